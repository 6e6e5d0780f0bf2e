from django.urls import path

from portal.api import views

urlpatterns = [
    path("me", views.MeView.as_view(), name="api_me"),
    path("orgs/", views.OrgListView.as_view(), name="api_orgs"),
    path("orgs/<int:org_id>/", views.OrgDetailView.as_view(), name="api_org"),
    path("orgs/<int:org_id>/flags", views.OrgFlagView.as_view(), name="api_org_flags"),
    path("access-requests/", views.AccessRequestListView.as_view(), name="api_access_requests"),
    path(
        "access-requests/<int:request_id>/grant",
        views.AccessRequestDecisionView.as_view(decision="grant"),
        name="api_access_grant",
    ),
    path(
        "access-requests/<int:request_id>/decline",
        views.AccessRequestDecisionView.as_view(decision="decline"),
        name="api_access_decline",
    ),
    path("audit-log/", views.AuditLogView.as_view(), name="api_audit_log"),
    path("projects/", views.ProjectListView.as_view(), name="api_projects"),
    path("projects/<int:project_id>/", views.ProjectDetailView.as_view(), name="api_project"),
    path(
        "projects/<int:project_id>/regenerate-key",
        views.ProjectKeyView.as_view(),
        name="api_project_key",
    ),
    path("projects/<int:project_id>/cohorts/", views.CohortListView.as_view(), name="api_cohorts"),
    path("cohorts/<str:cohort_id>/", views.CohortDetailView.as_view(), name="api_cohort"),
    path(
        "cohorts/<str:cohort_id>/members/",
        views.CohortMembersView.as_view(),
        name="api_cohort_members",
    ),
    path(
        "cohorts/<str:cohort_id>/members/add",
        views.CohortMembersChangeView.as_view(change="add"),
        name="api_cohort_members_add",
    ),
    path(
        "cohorts/<str:cohort_id>/members/remove",
        views.CohortMembersChangeView.as_view(change="remove"),
        name="api_cohort_members_remove",
    ),
]
