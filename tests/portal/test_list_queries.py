"""Every page and API operation that lists rows costs as many queries for many rows as for a
few: no query per row.

The registry below covers the whole URL configuration (portal/urls.py and the apps' urls
it includes): every named URL is either in LISTS, with a builder that makes its rows
through the actions, or in NOT_LISTS with the reason it lists nothing.
`test_every_url_is_known_as_a_list_or_not` fails on a URL that is in neither until someone
decides which it is, and on a DRF list view (ListAPIView) left out of LISTS.

Each list is asked for rows made twice: FEW, then MANY more (in a second parent where the
list belongs to one: a project's cohorts, a draft's revisions). Both answers are counted
with pytest-django's django_assert_max_num_queries: the first under a ceiling, the second
under what the first took. The second answer must show more of its rows than the first
showed of its own, so that a query per row would have had rows to run for.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from markupsafe import escape
from rest_framework.mixins import ListModelMixin

from integrations import actions as integration_actions
from integrations import releases
from integrations.manifests import manifest_of
from portal import actions
from portal.flags import DEVELOPER_PORTAL
from portal.models import MemberRole, Membership, StaffRole, User
from reviews import decisions, submissions
from reviews.checks import review_rerun_test
from syncengine import actions as test_actions
from syncengine import testruns
from syncengine.models import TestRun
from syncs.models import SyncRun
from tests.conftest import PASSWORD
from tests.integrations.conftest import fixture_manifest, png_bytes
from tests.syncengine.conftest import BASE, TOKEN, list_manifest, make_draft, save_settings
from tests.syncs.builders import add_sync, cohort_of, connect, released, synced

FEW = 2
MANY = 20
# Generous: what the few rows may cost at most. The real bound of each list is what its
# few rows took.
CEILING = 60


class World:
    """The cast, their signed-in clients and a demo partner, shared by the builders."""

    def __init__(self, cast, client_for, api_for, partner):
        self.cast = cast
        self.partner = partner
        self.pages = {
            "alice": client_for(cast.alice),
            "adam": client_for(cast.adam),
            "rita": client_for(cast.rita),
        }
        self.api = {
            "alice": api_for(cast.alice, cast.acme),
            "adam": api_for(cast.adam, None),
            "rita": api_for(cast.rita, None),
        }
        self._serial = itertools.count(1)

    def name(self, what: str) -> str:
        return f"{what} {next(self._serial):03d}"


# A builder makes `count` rows and returns the URL's arguments and, for each row, the text
# (or one of the texts) that shows it in the page or the JSON.
Label = str | tuple[str, ...]
Built = tuple[tuple, list[Label]]
Builder = Callable[[World, int], Built]


@dataclass(frozen=True)
class Listing:
    viewer: str  # alice (Acme's developer and admin), adam (platform admin), rita (reviewer)
    rows: Builder
    # Its rows come from sync runs, which plan in a transaction of their own: the test
    # runs on a database that is really committed to (pytest-django's transactional_db).
    transactional: bool = False


# --- builders -------------------------------------------------------------------------


def api_tokens(world: World, count: int) -> Built:
    names = [world.name("Token") for _ in range(count)]
    for name in names:
        actions.token_create(acting_user=world.cast.alice, org=world.cast.acme, name=name)
    return (), names


def projects(world: World, count: int) -> Built:
    names = [world.name("Project") for _ in range(count)]
    for name in names:
        actions.project_create(acting_user=world.cast.alice, org=world.cast.acme, name=name)
    return (), names


def cohorts_of_a_project(world: World, count: int) -> Built:
    cast = world.cast
    project = actions.project_create(
        acting_user=cast.alice, org=cast.acme, name=world.name("Project")
    )
    names = [world.name("Cohort") for _ in range(count)]
    for name in names:
        actions.cohort_create(acting_user=cast.alice, project=project, name=name)
    return (project.public_id,), names


def members_of_a_cohort(world: World, count: int) -> Built:
    cast = world.cast
    cohort = actions.cohort_create(
        acting_user=cast.alice, project=cast.acme_project, name=world.name("Cohort")
    )
    ids = [world.name("member").replace(" ", "-") for _ in range(count)]
    actions.cohort_members_replace(
        acting_user=cast.alice,
        cohort=cohort,
        members=[{"user_id": user_id, "email": f"{user_id}@example.test"} for user_id in ids],
    )
    return (cohort.public_id,), ids


def members_and_invitations(world: World, count: int) -> Built:
    cast = world.cast
    labels = []
    for _ in range(count):
        email = world.name("member").replace(" ", "-") + "@acme.test"
        user = User.objects.create_user(email, PASSWORD, full_name="Acme Member")
        Membership.objects.create(user=user, org=cast.acme, role=MemberRole.MEMBER)
        invited = world.name("invited").replace(" ", "-") + "@acme.test"
        actions.member_invite(
            acting_user=cast.alice,
            org=cast.acme,
            email=invited,
            role=MemberRole.MEMBER,
            is_developer=True,
        )
        labels += [email, invited]
    return (), labels


def organisations(world: World, count: int) -> Built:
    names = []
    for _ in range(count):
        name = world.name("Org")
        user = actions.account_signup(
            email=name.replace(" ", "-").lower() + "@orgs.test",
            password=PASSWORD,
            full_name="Org Admin",
            org_name=name,
        )
        org = Membership.objects.get(user=user).org
        actions.flag_set(acting_user=world.cast.adam, org=org, flag=DEVELOPER_PORTAL, enabled=True)
        names.append(name)
    return (), names


def access_requests(world: World, count: int) -> Built:
    names = []
    for _ in range(count):
        name = world.name("Asking org")
        user = actions.account_signup(
            email=name.replace(" ", "-").lower() + "@asking.test",
            password=PASSWORD,
            full_name="Asking Admin",
            org_name=name,
        )
        actions.access_request_create(
            acting_user=user,
            org=Membership.objects.get(user=user).org,
            flag=DEVELOPER_PORTAL,
            message="Please",
        )
        names.append(name)
    return (), names


def staff(world: World, count: int) -> Built:
    emails = []
    for _ in range(count):
        email = world.name("reviewer").replace(" ", "-") + "@platform.test"
        user = User.objects.create_user(email, PASSWORD, full_name="Another Reviewer")
        actions.staff_role_set(acting_user=world.cast.adam, user=user, role=StaffRole.REVIEWER)
        emails.append(email)
    return (), emails


def integrations(world: World, count: int) -> Built:
    names = [world.name("Listed") for _ in range(count)]
    for name in names:
        integration_actions.integration_create(
            acting_user=world.cast.alice,
            org=world.cast.acme,
            display_name=name,
            integration_type="list",
        )
    return (), names


def imported_draft(world: World, **changes):
    manifest = fixture_manifest() | {"display_name": world.name("Draft")} | changes
    return integration_actions.integration_import(
        acting_user=world.cast.alice, org=world.cast.acme, manifest=manifest
    )


def revisions_of_a_draft(world: World, count: int) -> Built:
    draft = imported_draft(world)
    notes = []
    for index in range(count):
        manifest = manifest_of(draft)
        manifest["endpoints"]["add_users"]["batch_size"] = 100 + index
        note = world.name("Saved")
        draft = integration_actions.integration_save(
            acting_user=world.cast.alice, integration=draft, manifest=manifest, note=note
        )
        notes.append(note)
    return (draft.pk,), notes


def versions_of_a_draft(world: World, count: int) -> Built:
    draft = imported_draft(world)
    versions = [
        releases.integration_release(acting_user=world.cast.alice, integration=draft)
        for _ in range(count)
    ]
    return (draft.pk,), [(f"<td>v{v.number}</td>", f'"number":{v.number},') for v in versions]


def released_drafts(world: World, count: int) -> Built:
    names = []
    for _ in range(count):
        draft = imported_draft(world)
        releases.integration_release(acting_user=world.cast.alice, integration=draft)
        names.append(draft.display_name)
    return (), names


def draft_with_a_passing_test(world: World, *, users: int = 2, batch_size: int = 10_000):
    """A draft with a logo and a full test passed against the demo partner."""
    manifest = list_manifest(world.partner.url, name=world.name("Tested"), batch_size=batch_size)
    manifest["logo_png_base64"] = base64.b64encode(png_bytes(128, 128)).decode()
    draft = make_draft(world.cast, manifest)
    save_settings(world.cast, draft, users_count=users)
    run = test_actions.test_run_start(acting_user=world.cast.alice, integration=draft)
    assert testruns.execute_test_run(run.pk).status == "passed"
    return draft, run


def runs_of_a_draft(world: World, count: int) -> Built:
    draft, first = draft_with_a_passing_test(world)
    runs = [first]
    for _ in range(count - 1):
        run = test_actions.test_run_start(acting_user=world.cast.alice, integration=draft)
        runs.append(testruns.execute_test_run(run.pk))
    return (draft.pk,), [(f'data-run="{run.pk}"', f'"id":{run.pk},') for run in runs]


def exchanges_of_a_run(world: World, count: int) -> Built:
    """A run whose every user went in a request of its own."""
    _, run = draft_with_a_passing_test(world, users=count, batch_size=1)
    sequences = run.exchanges.values_list("sequence", flat=True)
    labels = [(f'data-sequence="{s}"', f'"sequence":{s},') for s in sequences]
    return (run.pk,), labels


def page_exchanges_of_a_run(world: World, count: int) -> Built:
    (run_id,), labels = exchanges_of_a_run(world, count)
    return (TestRun.objects.get(pk=run_id).integration_id, run_id), labels


def submissions_in_review(world: World, count: int) -> Built:
    names = []
    for _ in range(count):
        draft, _ = draft_with_a_passing_test(world)
        version = submissions.integration_submit(acting_user=world.cast.alice, integration=draft)
        # Assigned, so that the reviewer each row names is one more relation to read.
        decisions.review_assign(
            acting_user=world.cast.rita, version=version, reviewer=world.cast.rita
        )
        names.append(draft.display_name)
    return (), names


def comments_on_a_submission(world: World, count: int) -> Built:
    """A submission whose evidence has a request per user, and a thread of comments."""
    draft, _ = draft_with_a_passing_test(world, users=count, batch_size=1)
    version = submissions.integration_submit(acting_user=world.cast.alice, integration=draft)
    bodies = [world.name("Comment") for _ in range(count)]
    for index, body in enumerate(bodies):
        author = world.cast.rita if index % 2 else world.cast.alice
        decisions.review_comment(acting_user=author, version=version, body=body)
    return (version.pk,), bodies


def a_reviewers_run(world: World, count: int) -> Built:
    """A reviewer's re-run of a submission, with a request per user."""
    draft, _ = draft_with_a_passing_test(world, users=count, batch_size=1)
    version = submissions.integration_submit(acting_user=world.cast.alice, integration=draft)
    rerun = review_rerun_test(
        acting_user=world.cast.rita, version=version, values={"bearer_token": TOKEN}
    )
    testruns.execute_test_run(rerun.pk)
    bodies = rerun.exchanges.values_list("request_body", flat=True)
    return (version.pk,), [str(escape(body)) for body in bodies]


# --- connections and cohort syncs -----------------------------------------------------


def connections(world: World, count: int) -> Built:
    destination = released(world.cast, list_manifest(BASE, name=world.name("Connectable")))
    names = [world.name("Connection") for _ in range(count)]
    for name in names:
        connect(world.cast, destination, name=name)
    return (), names


def syncs_of_a_connection(world: World, count: int) -> Built:
    destination = released(world.cast, list_manifest(BASE, name=world.name("Connectable")))
    connection = connect(world.cast, destination, name=world.name("Connection"))
    names = [world.name("Synced cohort") for _ in range(count)]
    for name in names:
        add_sync(world.cast, connection, cohort=cohort_of(world.cast, name))
    return (connection.pk,), names


def every_sync(world: World, count: int) -> Built:
    (_, names) = syncs_of_a_connection(world, count)
    return (), names


def runs_of_a_sync(world: World, count: int) -> Built:
    sync = synced(
        world.cast, world.partner.url, members=2, runs_count=count, name=world.name("Runs")
    )
    runs = sync.runs.all()
    return (sync.pk,), [(f'data-run="{run.pk}"', f'"id":{run.pk},') for run in runs]


def batches_of_a_run(world: World, count: int) -> Built:
    """A run whose every user went in a batch of its own."""
    sync = synced(
        world.cast, world.partner.url, members=count, batch_size=1, name=world.name("Batches")
    )
    run = sync.runs.get()
    sequences = run.batches.values_list("sequence", flat=True)
    labels = [(f'data-batch="{s}"', f'"sequence":{s},') for s in sequences]
    return (run.pk,), labels


def page_batches_of_a_run(world: World, count: int) -> Built:
    (run_id,), labels = batches_of_a_run(world, count)
    return (SyncRun.objects.get(pk=run_id).sync_id, run_id), labels


def exchanges_of_a_sync_run(world: World, count: int) -> Built:
    sync = synced(
        world.cast, world.partner.url, members=count, batch_size=1, name=world.name("Sent")
    )
    run = sync.runs.get()
    sequences = run.exchanges.values_list("sequence", flat=True)
    return (run.pk,), [f'"sequence":{s},' for s in sequences]


# --- the registry ---------------------------------------------------------------------

LISTS: dict[str, Listing] = {
    # tenancy
    "account_tokens": Listing("alice", api_tokens),
    "dashboard": Listing("alice", projects),
    "org_settings": Listing("alice", members_and_invitations),
    "project_list": Listing("alice", projects),
    "project_detail": Listing("alice", cohorts_of_a_project),
    "cohort_detail": Listing("alice", members_of_a_cohort),
    "platform_orgs": Listing("adam", organisations),
    "platform_access_requests": Listing("adam", access_requests),
    "platform_audit": Listing("adam", projects),
    "platform_staff": Listing("adam", staff),
    "api_orgs": Listing("adam", organisations),
    "api_access_requests": Listing("adam", access_requests),
    "api_audit_log": Listing("adam", projects),
    "api_projects": Listing("alice", projects),
    "api_cohorts": Listing("alice", cohorts_of_a_project),
    "api_cohort_members": Listing("alice", members_of_a_cohort),
    # integrations
    "portal_home": Listing("alice", integrations),
    "integration_history": Listing("alice", revisions_of_a_draft),
    "integration_submit": Listing("alice", versions_of_a_draft),
    "destinations": Listing("alice", released_drafts),
    "platform_destinations": Listing("adam", released_drafts),
    "api_integrations": Listing("alice", integrations),
    "api_integration_revisions": Listing("alice", revisions_of_a_draft),
    "api_integration_versions": Listing("alice", versions_of_a_draft),
    "api_destinations": Listing("alice", released_drafts),
    # test runs
    "testing_panel": Listing("alice", runs_of_a_draft),
    "testing_runs": Listing("alice", runs_of_a_draft),
    "testing_run": Listing("alice", page_exchanges_of_a_run),
    "api_test_runs": Listing("alice", runs_of_a_draft),
    "api_test_run": Listing("alice", exchanges_of_a_run),
    "api_test_run_exchanges": Listing("alice", exchanges_of_a_run),
    # reviews
    "review_queue": Listing("rita", submissions_in_review),
    "review_detail": Listing("rita", comments_on_a_submission),
    "review_checks": Listing("rita", a_reviewers_run),
    "api_reviews": Listing("rita", submissions_in_review),
    "api_review": Listing("rita", comments_on_a_submission),
    "api_review_comments": Listing("rita", comments_on_a_submission),
    # connections and cohort syncs
    "connection_list": Listing("alice", connections),
    "connection_detail": Listing("alice", syncs_of_a_connection),
    "sync_detail": Listing("alice", runs_of_a_sync, transactional=True),
    "sync_run": Listing("alice", page_batches_of_a_run, transactional=True),
    "api_connections": Listing("alice", connections),
    "api_connection_syncs": Listing("alice", syncs_of_a_connection),
    "api_syncs": Listing("alice", every_sync),
    "api_sync_runs": Listing("alice", runs_of_a_sync, transactional=True),
    "api_sync_run_batches": Listing("alice", batches_of_a_run, transactional=True),
    "api_sync_run_exchanges": Listing("alice", exchanges_of_a_sync_run, transactional=True),
}

FORM_OR_ACTION = "a form's or an action's POST, or a redirect"
ONE_THING = "one object, a form or a document: no rows"
NOT_LISTS: dict[str, str] = {
    **dict.fromkeys(
        [
            "home",
            "signout",
            "token_revoke",
            "org_switch",
            "org_request_access",
            "org_invite",
            "org_member_update",
            "org_member_remove",
            "project_create",
            "project_regenerate_key",
            "project_reveal_key",
            "cohort_create",
            "cohort_upload",
            "cohort_delete",
            "platform_org_flag",
            "platform_access_resolve",
            "platform_settings",
            "integration_import",
            "integration_open",
            "integration_logo",
            "integration_preview",
            "integration_save",
            "integration_auth_switch",
            "integration_copy_errors",
            "integration_editor_part",
            "integration_manifest_import",
            "integration_duplicate",
            "integration_delete",
            "integration_revision_restore",
            "integration_release_post",
            "platform_destination_rollback",
            "testing_settings_save",
            "testing_project_create",
            "testing_run_start",
            "testing_signing_secret",
            "integration_submit_post",
            "integration_withdraw_post",
            "review_comment",
            "review_checks_start",
            "review_decide",
            "review_assign",
            "integration_name_check",
            "integration_rename_check",
            "integration_logo_check",
            "api_org_flags",
            "api_access_grant",
            "api_access_decline",
            "api_project_key",
            "api_cohort_members_add",
            "api_cohort_members_remove",
            "api_integration_import",
            "api_integration_validate",
            "api_integration_preview",
            "api_integration_duplicate",
            "api_integration_copy_errors",
            "api_integration_revision_restore",
            "api_integration_release",
            "api_destination_rollback",
            "api_integration_submit",
            "api_integration_withdraw",
            "api_review_approve",
            "api_review_request_changes",
            "api_review_reject",
            "api_review_assign",
            "api_review_rerun_test",
            "platform_destination_visibility",
            "api_destination_visibility",
            "connection_delete",
            "sync_new",
            "sync_run_now",
            "sync_retry",
            "sync_resync",
            "sync_pause",
            "sync_resume",
            "sync_schedule",
            "sync_delete",
            "api_sync_pause",
            "api_sync_resume",
            "api_sync_now",
            "api_sync_retry",
            "api_sync_full_resync",
        ],
        FORM_OR_ACTION,
    ),
    **dict.fromkeys(
        [
            "healthz",
            "api_not_found",
            "readyz",
            "signin",
            "signup",
            "account",
            "password_reset",
            # allauth's account and two-factor pages: one person's own forms
            "account_login",
            "account_logout",
            "account_inactive",
            "account_signup",
            "account_reauthenticate",
            "account_request_reauthentication_code",
            "account_confirm_reauthentication_code",
            "account_email",
            "account_email_verification_sent",
            "account_change_password",
            "account_set_password",
            "account_reset_password",
            "account_confirm_login_code",
            "account_confirm_email",
            "account_reset_password_from_key_done",
            "account_reset_password_from_key",
            "account_reset_password_done",
            "mfa_index",
            "mfa_authenticate",
            "mfa_reauthenticate",
            "mfa_activate_totp",
            "mfa_deactivate_totp",
            "mfa_view_recovery_codes",
            "mfa_generate_recovery_codes",
            "mfa_download_recovery_codes",
            "invitation",
            "cohort_import_status",
            "staff_home",
            "integration_new",
            "integration_tile",
            "integration_start",
            "integration_editor",
            "integration_manifest",
            "testing_exchange",
            "testing_csv_template",
            "api_me",
            "api_org",
            "api_project",
            "api_cohort",
            "api_integration",
            "api_integration_manifest",
            "api_integration_logo",
            "api_integration_revision_manifest",
            "api_integration_diff",
            "api_version_logo",
            "api_test_settings",
            "api_signing_secret",
            "api_review_conformance",
            "api_schema",
            "api_docs",
            "api_redoc",
            "api_redoc_bundle",
            "destination_logo",
            "connection_new",
            "connection_edit",
            "sync_run_exchange",
            "api_connection",
            "api_sync",
            "api_sync_run",
            "metrics",
        ],
        ONE_THING,
    ),
    # The attempts of one batch: at most MAX_ATTEMPTS (8) rows, read in one query.
    "sync_run_batch": "one batch's attempts, a handful of rows at most",
    # A poll of one run; the run history it refreshes once the run ends is sync_detail's.
    "sync_progress": "a poll of one run (its history is sync_detail's list)",
    # The test page shows the latest run and loads its history a page at a time.
    "integration_test": "the latest run and the history's placeholder (testing_runs' list)",
}


def named_patterns(resolver=None, namespace: str | None = None):
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            yield from named_patterns(entry, entry.namespace or namespace)
        elif isinstance(entry, URLPattern) and namespace != "admin":
            # Django's own admin is for superusers and paginates on its own.
            yield entry


def test_every_url_is_known_as_a_list_or_not():
    patterns = list(named_patterns())
    names = {entry.name for entry in patterns}
    assert None not in names, "every URL has a name, so that this registry can say what it is"
    unknown = names - LISTS.keys() - NOT_LISTS.keys()
    assert not unknown, f"add these URLs to LISTS (with a builder) or to NOT_LISTS: {unknown}"
    assert not LISTS.keys() & NOT_LISTS.keys()
    gone = (LISTS.keys() | NOT_LISTS.keys()) - names
    assert not gone, f"these URLs are gone: remove them from the registry: {gone}"
    drf_lists = {
        entry.name
        for entry in patterns
        if issubclass(getattr(entry.callback, "cls", object), ListModelMixin)
    }
    assert drf_lists - LISTS.keys() == set(), "a ListAPIView is a list"


def shown(content: str, labels: list[Label]) -> int:
    def found(label: Label) -> bool:
        return any(text in content for text in ((label,) if isinstance(label, str) else label))

    return sum(found(label) for label in labels)


def check_list(name, world, django_assert_max_num_queries) -> None:
    listing = LISTS[name]

    def ask(args: tuple, *, at_most: int):
        url = reverse(name, args=args)
        client = (world.api if url.startswith("/api/") else world.pages)[listing.viewer]
        with django_assert_max_num_queries(at_most) as counted:
            response = client.get(url)
        assert response.status_code == 200, f"GET {url}: {response.status_code}"
        return response.content.decode(), len(counted.captured_queries)

    few_args, few_labels = listing.rows(world, FEW)
    ask(few_args, at_most=CEILING)  # first answers fill per-process caches
    few_content, few_queries = ask(few_args, at_most=CEILING)
    many_args, many_labels = listing.rows(world, MANY)
    many_content, many_queries = ask(many_args, at_most=few_queries)

    assert shown(few_content, few_labels) == len(few_labels), "the few rows are listed"
    assert shown(many_content, many_labels) > len(few_labels), "more rows are listed"
    assert many_queries == few_queries


@pytest.mark.parametrize("name", sorted(n for n, entry in LISTS.items() if not entry.transactional))
def test_a_list_costs_no_query_per_row(
    name, cast, client_for, api_for, partner, django_assert_max_num_queries
):
    world = World(cast, client_for, api_for, partner)
    check_list(name, world, django_assert_max_num_queries)


@pytest.mark.parametrize("name", sorted(n for n, entry in LISTS.items() if entry.transactional))
def test_a_list_of_sync_runs_costs_no_query_per_row(
    name, transactional_db, cast, client_for, api_for, partner, django_assert_max_num_queries
):
    world = World(cast, client_for, api_for, partner)
    check_list(name, world, django_assert_max_num_queries)
