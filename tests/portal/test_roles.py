"""The role matrix (docs/roles.md), route by route: every URL pattern of the portal and
every method its view answers (pages and API operations), for every role and for someone
of another organisation, gets exactly what the matrix says.

The walk reads the URL resolver, so a route added later (by any app) fails this test until
it is classified in `ROUTES` below: say which access it needs (`portal.roles.Access`), and
for a route with an id, add the id to `acme_ids`. Each test prints "N of N routes checked".

What each person here is:
  ada    admin of Acme, not a developer          ("org admin")
  dave   developer of Acme, not an admin         ("developer"; Acme's portal flag is on)
  alan   plain member of Acme                    ("member")
  rita   reviewer, no organisation               ("reviewer")
  adam   platform admin, no organisation         ("platform admin")
  bob    admin and developer of Globex, its portal on: acting on Acme's ids ("foreign org")
  nobody signed out                              ("anonymous")
"""

from __future__ import annotations

import base64

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from portal.roles import Access
from tests.portal.test_tenancy import build_path

A = Access
# Every route by name: the access it needs, or (for reading, for changing) where reading
# is open to more people than changing. A new route goes here.
ROUTES: dict[str, Access | tuple[Access, Access]] = {
    # accounts: anyone (signed-in people are sent on)
    **dict.fromkeys(
        [
            "home",
            "healthz",
            "signin",
            "signup",
            "password_reset",
            # allauth's pages of signing in, up and out, verification and reset
            "account_login",
            "account_logout",
            "account_inactive",
            "account_signup",
            "account_email_verification_sent",
            "account_confirm_email",
            "account_reset_password",
            "account_reset_password_done",
            "account_reset_password_from_key",
            "account_reset_password_from_key_done",
            "account_confirm_login_code",
            "mfa_authenticate",
            # allauth's management pages, sent to the account page
            "mfa_index",
            "account_email",
            "account_change_password",
            "account_set_password",
            "invitation",
            "api_schema",
            "api_docs",
            "api_redoc",
            "api_not_found",
            "signout",
            "readyz",
            "metrics",
            "api_redoc_bundle",
        ],
        A.ANYONE,
    ),
    # anyone signed in: their own account, their organisations
    **dict.fromkeys(
        [
            "account",
            "account_tokens",
            "token_revoke",
            "api_me",
            # confirming it is you, and two-factor settings (allauth's)
            "account_reauthenticate",
            "account_request_reauthentication_code",
            "account_confirm_reauthentication_code",
            "mfa_reauthenticate",
            "mfa_activate_totp",
            "mfa_deactivate_totp",
            "mfa_view_recovery_codes",
            "mfa_generate_recovery_codes",
            "mfa_download_recovery_codes",
        ],
        A.SIGNED_IN,
    ),
    "api_access_requests": (A.ORG_MEMBER_OR_PLATFORM_ADMIN, A.ORG_MEMBER),
    # members of an organisation: its dashboard, projects, cohorts, destinations,
    # connections and syncs (reading)
    **dict.fromkeys(
        [
            "dashboard",
            "org_settings",
            "org_switch",
            "org_request_access",
            "project_list",
            "project_detail",
            "cohort_detail",
            "cohort_import_status",
            "destinations",
            "destination_logo",
            "connection_list",
            "connection_detail",
            "sync_detail",
            "sync_progress",
            "sync_run",
            "sync_run_batch",
            "sync_run_exchange",
            "api_project",
            "api_destinations",
            "api_syncs",
            "api_sync_runs",
            "api_sync_run",
            "api_sync_run_batches",
            "api_sync_run_exchanges",
        ],
        A.ORG_MEMBER,
    ),
    # admins and developers change cohorts, connections and syncs; members read them
    **dict.fromkeys(
        [
            "cohort_create",
            "cohort_upload",
            "cohort_delete",
            "connection_new",
            "connection_edit",
            "connection_delete",
            "sync_new",
            "sync_run_now",
            "sync_retry",
            "sync_resync",
            "sync_pause",
            "sync_resume",
            "sync_schedule",
            "sync_delete",
        ],
        A.ORG_EDITOR,
    ),
    **dict.fromkeys(
        [
            "api_cohorts",
            "api_cohort",
            "api_cohort_members",
            "api_cohort_members_add",
            "api_cohort_members_remove",
            "api_connections",
            "api_connection",
            "api_connection_syncs",
            "api_sync",
            "api_sync_pause",
            "api_sync_resume",
            "api_sync_now",
            "api_sync_retry",
            "api_sync_full_resync",
        ],
        (A.ORG_MEMBER, A.ORG_EDITOR),
    ),
    # org admins: members, invitations, projects and their keys, requesting access
    **dict.fromkeys(
        [
            "org_invite",
            "org_member_update",
            "org_member_remove",
            "project_create",
            "project_regenerate_key",
            "project_reveal_key",
            "api_project_key",
        ],
        A.ORG_ADMIN,
    ),
    "api_projects": (A.ORG_MEMBER, A.ORG_ADMIN),
    # developers of an organisation whose Developer Portal is on
    **dict.fromkeys(
        [
            "portal_home",
            "integration_start",
            "integration_editor_part",
            "testing_project_create",
            "integration_new",
            "integration_name_check",
            "integration_logo_check",
            "integration_import",
            "integration_open",
            "integration_tile",
            "integration_rename_check",
            "integration_logo",
            "integration_editor",
            "integration_preview",
            "integration_save",
            "integration_auth_switch",
            "integration_copy_errors",
            "integration_manifest",
            "integration_manifest_import",
            "integration_duplicate",
            "integration_delete",
            "integration_history",
            "integration_revision_restore",
            "integration_release_post",
            "integration_test",
            "testing_panel",
            "testing_settings_save",
            "testing_run_start",
            "testing_runs",
            "testing_run",
            "testing_exchange",
            "testing_csv_template",
            "testing_signing_secret",
            "integration_submit",
            "integration_submit_post",
            "integration_withdraw_post",
            "api_integrations",
            "api_integration_import",
            "api_integration",
            "api_integration_manifest",
            "api_integration_validate",
            "api_integration_preview",
            "api_integration_logo",
            "api_integration_duplicate",
            "api_integration_copy_errors",
            "api_integration_revisions",
            "api_integration_revision_manifest",
            "api_integration_revision_restore",
            "api_integration_diff",
            "api_integration_release",
            "api_integration_versions",
            "api_test_settings",
            "api_test_runs",
            "api_signing_secret",
            "api_test_run",
            "api_test_run_exchanges",
            "api_integration_submit",
            "api_integration_withdraw",
        ],
        A.DEVELOPER,
    ),
    # a review: reviewers, and the developers of the partner's organisation
    **dict.fromkeys(
        [
            "review_detail",
            "review_comment",
            "review_checks",
            "api_version_logo",
            "api_review",
            "api_review_comments",
        ],
        A.REVIEWER_OR_DEVELOPER,
    ),
    # the conformance checks of a version: its developers see them, reviewers start them
    "api_review_conformance": (A.REVIEWER_OR_DEVELOPER, A.REVIEWER),
    # reviewers (platform admins review too)
    **dict.fromkeys(
        [
            "staff_home",
            "review_queue",
            "review_checks_start",
            "review_decide",
            "review_assign",
            "api_reviews",
            "api_review_approve",
            "api_review_request_changes",
            "api_review_reject",
            "api_review_assign",
            "api_review_rerun_test",
        ],
        A.REVIEWER,
    ),
    # platform admins
    **dict.fromkeys(
        [
            "platform_orgs",
            "platform_settings",
            "platform_destination_visibility",
            "api_destination_visibility",
            "platform_org_flag",
            "platform_access_requests",
            "platform_access_resolve",
            "platform_audit",
            "platform_staff",
            "platform_destinations",
            "platform_destination_rollback",
            "api_orgs",
            "api_org",
            "api_org_flags",
            "api_access_grant",
            "api_access_decline",
            "api_audit_log",
            "api_destination_rollback",
        ],
        A.PLATFORM_ADMIN,
    ),
}

# The matrix of docs/roles.md: what each person is granted.
EVERYONE = {A.ANYONE}
SIGNED_IN = EVERYONE | {A.SIGNED_IN}
GRANTS: dict[str, set[Access]] = {
    "anonymous": EVERYONE,
    "org admin": SIGNED_IN
    | {A.ORG_MEMBER, A.ORG_MEMBER_OR_PLATFORM_ADMIN, A.ORG_ADMIN, A.ORG_EDITOR},
    "developer": SIGNED_IN
    | {
        A.ORG_MEMBER,
        A.ORG_MEMBER_OR_PLATFORM_ADMIN,
        A.ORG_EDITOR,
        A.DEVELOPER,
        A.REVIEWER_OR_DEVELOPER,
    },
    "member": SIGNED_IN | {A.ORG_MEMBER, A.ORG_MEMBER_OR_PLATFORM_ADMIN},
    "reviewer": SIGNED_IN | {A.REVIEWER, A.REVIEWER_OR_DEVELOPER},
    "platform admin": SIGNED_IN
    | {A.ORG_MEMBER_OR_PLATFORM_ADMIN, A.REVIEWER, A.REVIEWER_OR_DEVELOPER, A.PLATFORM_ADMIN},
    "foreign org": SIGNED_IN
    | {
        A.ORG_MEMBER,
        A.ORG_MEMBER_OR_PLATFORM_ADMIN,
        A.ORG_ADMIN,
        A.ORG_EDITOR,
        A.DEVELOPER,
        A.REVIEWER_OR_DEVELOPER,
    },
}

# Routes that answer 404 to someone let in, for a reason of their own: no such address,
# an invitation token made up here, no organisation named to switch to, no approved
# version to compare with, no conformance checks run yet.
ANSWERS_404 = {
    "api_not_found",
    # allauth: no recovery codes to show (people without two-factor sign-in), codes shown
    # once are not downloadable, no sign-in by code here
    "mfa_view_recovery_codes",
    "mfa_download_recovery_codes",
    "account_request_reauthentication_code",
    "account_confirm_reauthentication_code",
    "account_confirm_login_code",
    "mfa_deactivate_totp",  # nothing to turn off without an authenticator app
    # allauth's links with a key are regular expressions the walk cannot fill in: their
    # answers (an expired or unknown key) are tested in tests/portal/test_accounts.py
    "account_confirm_email",
    "account_reset_password_from_key",
    "invitation",
    "org_switch",
    "api_integration_diff",
    "api_review_conformance",
    "metrics",  # the scrape endpoint exists only with METRICS_TOKEN set
    # the sync run here was not executed, so it has no batch or exchange to show
    "sync_run_batch",
    "sync_run_exchange",
    "sync_progress",  # the run to watch is a query parameter
}

# URL arguments that name no object of an organisation (so the foreign org's refusal is
# not the tenancy 404): staff objects, one-time tokens, the person's own tokens. (Acme's
# destination is its internal release, which another organisation does not see.)
NOT_TENANT_IDS = {"uidb64", "token", "org_id", "request_id", "token_id"}
WRITES = ("post", "put", "patch", "delete")


def portal_patterns(resolver=None, prefix=""):
    """Every route of the portal: Django's own admin (superusers only) aside."""
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace != "admin":
                yield from portal_patterns(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def declared_access(entry: URLPattern, method: str) -> Access | None:
    """What the view itself enforces: its decorator's, or its permission class's."""
    view = entry.callback
    cls = getattr(view, "cls", None)
    if cls is not None:
        classes = list(getattr(cls, "permission_classes", []))
        if not classes or not all(hasattr(permission, "access_for") for permission in classes):
            return None  # a permission of its own kind: the walk's answers judge it
        # Every class must agree; the last one is the narrowest.
        return classes[-1]().access_for(method.upper())
    return getattr(view, "access", None)


def needed(name: str, method: str) -> Access:
    access = ROUTES[name]
    if isinstance(access, tuple):
        return access[0] if method == "get" else access[1]
    return access


# --- the world ------------------------------------------------------------------------


@pytest.fixture
def people(cast):
    from portal import actions
    from portal.flags import DEVELOPER_PORTAL
    from portal.models import MemberRole, Membership, User
    from tests.conftest import PASSWORD

    ada = User.objects.create_user("ada@acme.test", PASSWORD, full_name="Ada Admin")
    Membership.objects.create(user=ada, org=cast.acme, role=MemberRole.ADMIN, is_developer=False)
    dave = User.objects.create_user("dave@acme.test", PASSWORD, full_name="Dave Developer")
    Membership.objects.create(user=dave, org=cast.acme, role=MemberRole.MEMBER, is_developer=True)
    actions.flag_set(acting_user=cast.adam, org=cast.globex, flag=DEVELOPER_PORTAL, enabled=True)
    return {
        "anonymous": None,
        "org admin": ada,
        "developer": dave,
        "member": cast.alan,
        "reviewer": cast.rita,
        "platform admin": cast.adam,
        "foreign org": cast.bob,
    }


def acme_ids(cast, submitted_version) -> dict[str, object]:
    """An object of Acme for every id a route takes (and the one-time tokens)."""
    from portal import actions
    from portal.models import AccessRequest, CohortImport, MemberRole, Membership, User
    from syncengine.models import TestRun
    from syncs import runs
    from tests.integrations.conftest import png_bytes
    from tests.syncengine.conftest import BASE, list_manifest
    from tests.syncs.builders import add_sync, cohort_of, connect, released

    integration = submitted_version.integration
    run = TestRun.objects.filter(integration=integration).order_by("pk").first()
    cohort = actions.cohort_create(acting_user=cast.alice, project=cast.acme_project, name="VIPs")
    job = CohortImport.objects.create(cohort=cohort, uploaded_by=cast.alice, status="succeeded")
    zed = User.objects.create_user("zed@acme.test", "x" * 20, full_name="Zed")
    member = Membership.objects.create(user=zed, org=cast.acme, role=MemberRole.MEMBER)
    # A sync with a run queued, not executed: the engine needs a transaction of its own,
    # which a test inside one cannot give it (tests/syncs run it on real transactions).
    manifest = list_manifest(BASE, name="Acme Released Lists")
    manifest["logo_png_base64"] = base64.b64encode(png_bytes(128, 128)).decode()
    destination = released(cast, manifest)
    connection = connect(cast, destination, name="Acme lists")
    sync = add_sync(cast, connection, cohort=cohort_of(cast, "Synced", 3))
    sync_run = runs.run_create(sync, kind="manual", enqueue=False)
    access_request = AccessRequest.objects.create(
        org=cast.globex, flag="developer_portal", requested_by=cast.bob
    )
    return {
        "integration_id": integration.pk,
        "number": 1,
        "run_id": run.pk,
        "sequence": 1,
        "version_id": submitted_version.pk,
        "project_id": cast.acme_project.public_id,
        "cohort_id": cohort.public_id,
        "import_id": job.pk,
        "member_id": member.pk,
        "org_id": cast.acme.pk,
        "request_id": access_request.pk,
        "destination_id": sync.connection.destination_id,
        "connection_id": sync.connection_id,
        "sync_id": sync.pk,
        "sync_run_id": sync_run.pk,
        "uidb64": "MQ",
        "token": "not-a-token",
    }


def fresh_objects(cast, ids) -> dict[str, object]:
    from integrations import actions as integration_actions
    from integrations.models import Destination
    from portal import actions
    from portal.models import Cohort
    from tests.syncs.builders import add_sync, cohort_of, connect

    number = Cohort.objects.count()
    draft = integration_actions.integration_create(
        acting_user=cast.alice,
        org=cast.acme,
        display_name=f"Acme to delete {number}",
        integration_type="list",
    )
    cohort = actions.cohort_create(
        acting_user=cast.alice, project=cast.acme_project, name=f"To delete {number}"
    )
    destination = Destination.objects.get(pk=ids["destination_id"])
    connection = connect(cast, destination, name=f"To delete {number}")
    sync = add_sync(cast, connection, cohort=cohort_of(cast, f"Synced to delete {number}"))
    return {
        "integration_id": draft.pk,
        "cohort_id": cohort.public_id,
        "connection_id": connection.pk,
        "sync_id": sync.pk,
    }


def client_of(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def own_token_id(user, cast) -> int:
    from portal import actions
    from portal.models import Membership

    membership = Membership.objects.filter(user=user).select_related("org").first()
    token, _ = actions.token_create(
        acting_user=user, org=membership.org if membership else None, name="role walk"
    )
    return token.pk


def is_login_redirect(response) -> bool:
    """Sent to sign in first (signing out also ends on the sign-in page, without `next`).
    allauth's own pages name the same sign-in page by its other address."""
    location = response.get("Location", "")
    return response.status_code == 302 and location.startswith(
        ("/signin/?next=", "/accounts/login/?next=")
    )


# --- the walk --------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(GRANTS))
def test_every_route_answers_each_role_as_the_matrix_says(
    role, cast, people, submitted_version, capsys
):
    user = people[role]
    ids = acme_ids(cast, submitted_version)
    if user is not None:
        ids["token_id"] = own_token_id(user, cast)
    else:
        ids["token_id"] = 1
    patterns = list(portal_patterns())
    names = {entry.name for _, entry in patterns}
    assert None not in names, "every route has a name, so that the matrix can classify it"
    unclassified = names - ROUTES.keys()
    assert not unclassified, (
        f"classify these routes in ROUTES (tests/portal/test_roles.py): {unclassified}"
    )
    gone = ROUTES.keys() - names
    assert not gone, f"these routes are gone: remove them from ROUTES: {gone}"

    problems: list[str] = []
    checked: set[str] = set()
    requests = 0
    # Reads first, then changes, deletions last: a deleted draft would hide the rest.
    plan = [(route, entry, method) for route, entry in patterns for method in ("get",)]
    plan += [
        (route, entry, method)
        for route, entry in patterns
        for method in WRITES
        if not _deletes(route, method)
    ]
    # Removing parts before deleting wholes (a cohort's members before the cohort).
    deletions = [
        (route, entry, method)
        for route, entry in patterns
        for method in WRITES
        if _deletes(route, method)
    ]
    plan += sorted(deletions, key=lambda step: (step[2] == "delete", -len(step[0])))
    for route, entry, method in plan:
        name = entry.name
        cls = getattr(entry.callback, "cls", None)
        if cls is not None and not hasattr(cls, method):
            continue  # the operation does not exist (DRF answers 405)
        if cls is None and method not in ("get", "post"):
            continue  # pages are read and posted
        values = dict(ids)
        if _deletes(route, method):
            # Each deletion gets a draft and a cohort of its own, so that none of them
            # finds its object gone already.
            values.update(fresh_objects(cast, ids))
        path = build_path(route, {k: v for k, v in values.items() if k in entry.pattern.converters})
        access = needed(name, method)
        declared = declared_access(entry, method)
        if declared is not None and declared != access:
            problems.append(f"{name}: the view enforces {declared!r}, the matrix says {access!r}")
        response = getattr(client_of(user), method)(path)
        if response.status_code == 405:
            continue
        checked.add(name)
        requests += 1
        granted = access in GRANTS[role]
        foreign = role == "foreign org" and bool(set(entry.pattern.converters) - NOT_TENANT_IDS)
        status = response.status_code
        what = f"{method.upper()} {path} ({name}, {access}) as {role}: {status}"
        if granted and foreign:
            if status != 404:
                problems.append(f"{what}, expected 404 (another organisation's object)")
        elif granted:
            if status in (401, 403) or is_login_redirect(response):
                problems.append(f"{what}, expected to be let in")
            elif status == 404 and name not in ANSWERS_404:
                problems.append(f"{what}: let in, but Acme's object was not found")
        elif user is None:
            if not (is_login_redirect(response) or status == 401):
                problems.append(f"{what}, expected to be sent to sign in (401 in the API)")
        elif status != 403:
            problems.append(f"{what}, expected 403")
    print(f"{role}: {len(checked)} of {len(names)} routes checked ({requests} operations)")
    assert not problems, "\n".join(problems)
    assert checked == names, f"not checked: {names - checked}"


def _deletes(route: str, method: str) -> bool:
    return method == "delete" or any(word in route for word in ("delete", "remove", "revoke"))
