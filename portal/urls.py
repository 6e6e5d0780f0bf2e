from allauth.account import views as allauth_views
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from portal.api import docs
from portal.views import account, accounts, errors, health, org, platform, projects

urlpatterns = [
    path("", org.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("metrics", include("syncs.metrics_urls")),
    path("readyz", health.readyz, name="readyz"),
    # accounts
    # Sign-in, sign-up, verification, password reset and two-factor pages are allauth's
    # (under /accounts/); the addresses people know keep their names.
    path("signin/", allauth_views.login, name="signin"),
    path("signup/", allauth_views.signup, name="signup"),
    path("signout/", allauth_views.logout, name="signout"),
    path("password-reset/", allauth_views.password_reset, name="password_reset"),
    # Two-factor settings, the email and the password are sections of the account page
    # (whose changes are audited), not allauth's own management pages.
    path("accounts/2fa/", RedirectView.as_view(pattern_name="account"), name="mfa_index"),
    path("accounts/email/", RedirectView.as_view(pattern_name="account"), name="account_email"),
    path(
        "accounts/password/change/",
        RedirectView.as_view(pattern_name="account"),
        name="account_change_password",
    ),
    path(
        "accounts/password/set/",
        RedirectView.as_view(pattern_name="account"),
        name="account_set_password",
    ),
    path("accounts/", include("allauth.urls")),
    path("invitations/<str:token>/", accounts.invitation, name="invitation"),
    path("account/", account.account, name="account"),
    path("account/tokens/", account.tokens, name="account_tokens"),
    path("account/tokens/<int:token_id>/revoke", account.token_revoke, name="token_revoke"),
    # the current organisation
    path("dashboard/", org.dashboard, name="dashboard"),
    path("org/", org.settings_page, name="org_settings"),
    path("org/switch", org.switch_org, name="org_switch"),
    path("org/request-access", org.request_access, name="org_request_access"),
    path("org/invite", org.invite, name="org_invite"),
    path("org/members/<int:member_id>/update", org.member_update, name="org_member_update"),
    path("org/members/<int:member_id>/remove", org.member_remove, name="org_member_remove"),
    path("projects/", projects.project_list, name="project_list"),
    path("projects/new", projects.project_create, name="project_create"),
    path("projects/<int:project_id>/", projects.project_detail, name="project_detail"),
    path(
        "projects/<int:project_id>/regenerate-key",
        projects.project_regenerate_key,
        name="project_regenerate_key",
    ),
    path(
        "projects/<int:project_id>/reveal-key",
        projects.project_reveal_key,
        name="project_reveal_key",
    ),
    path("projects/<int:project_id>/cohorts/new", projects.cohort_create, name="cohort_create"),
    path("cohorts/<str:cohort_id>/", projects.cohort_detail, name="cohort_detail"),
    path("cohorts/<str:cohort_id>/upload", projects.cohort_upload, name="cohort_upload"),
    path(
        "cohorts/<str:cohort_id>/imports/<int:import_id>/",
        projects.cohort_import_status,
        name="cohort_import_status",
    ),
    path("cohorts/<str:cohort_id>/delete", projects.cohort_delete, name="cohort_delete"),
    # platform staff
    path("staff/", platform.staff_home, name="staff_home"),
    path("platform/orgs/", platform.org_list, name="platform_orgs"),
    path("platform/settings", platform.platform_settings_save, name="platform_settings"),
    path("platform/orgs/<int:org_id>/flags", platform.org_flag_set, name="platform_org_flag"),
    path("platform/access-requests/", platform.access_requests, name="platform_access_requests"),
    path(
        "platform/access-requests/<int:request_id>/resolve",
        platform.access_request_resolve,
        name="platform_access_resolve",
    ),
    path("platform/audit/", platform.audit_log, name="platform_audit"),
    path("platform/staff/", platform.staff_list, name="platform_staff"),
    # developer portal
    path("", include("integrations.urls")),
    path("", include("syncengine.urls")),
    path("", include("reviews.urls")),
    path("", include("syncs.urls")),
    # REST API and its schema
    path("api/v1/", include("portal.api.urls")),
    path("api/v1/", include("integrations.api_urls")),
    path("api/v1/", include("syncengine.api_urls")),
    path("api/v1/", include("reviews.api_urls")),
    path("api/v1/", include("syncs.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("api/docs/", docs.swagger, name="api_docs"),
    path("api/redoc/", docs.redoc, name="api_redoc"),
    path("api/redoc/redoc.js", docs.redoc_bundle, name="api_redoc_bundle"),
    path("django-admin/", admin.site.urls),
    # Last: any other address under /api/v1/ is the API's own 404, in its error shape
    # (add new API modules above it).
    re_path(r"^api/v1/", errors.api_not_found, name="api_not_found"),
]

handler404 = "portal.views.errors.not_found"
handler403 = "portal.views.errors.forbidden"
handler500 = "portal.views.errors.server_error"
