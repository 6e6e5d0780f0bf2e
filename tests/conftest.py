"""The shared cast and the real infrastructure fixtures.

Who may see what:
  alice  admin and developer of Acme Audiences (org A, Developer Portal flag ON)
  alan   plain member of Acme (not a developer)
  bob    admin of Globex Analytics (org B, flag OFF) — the outsider for cross-org tests
  rita   reviewer (platform staff, no org)
  adam   platform admin (no org)
Everyone's email is verified; rita and adam sign in with a second factor (an authenticator
app on STAFF_TOTP_SECRET, and recovery codes), which their roles require.
Everything is built through the action functions, never by poking rows.
"""

from __future__ import annotations

import pytest

# The fake partner servers (the demo partner, raw and silent sockets) and workers in
# processes of their own, shared by every test.
pytest_plugins = ["tests.partners", "tests.workers"]

PASSWORD = "correct-horse-battery-staple"
STAFF_TOTP_SECRET = "TESTKEYFORSTAFFTWOFACTORSIGNIN23"


def pytest_collection_modifyitems(items):
    """Browser tests are marked e2e and run last (Playwright holds an event loop open)."""
    for item in items:
        if "/tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
    items.sort(key=lambda item: "/tests/e2e/" in str(item.fspath))


def build_cast():
    # Imported here so that the pure-core tests can run without Django configured.
    from portal import actions
    from portal.accounts import two_factor_enrol
    from portal.flags import DEVELOPER_PORTAL
    from portal.models import MemberRole, Membership, StaffRole, User
    from tests.cast import Cast

    adam = User.objects.create_user(
        "adam@platform.test", PASSWORD, full_name="Adam Admin", staff_role=StaffRole.PLATFORM_ADMIN
    )
    rita = User.objects.create_user("rita@platform.test", PASSWORD, full_name="Rita Reviewer")
    actions.staff_role_set(acting_user=adam, user=rita, role=StaffRole.REVIEWER)
    for staff in (adam, rita):
        actions.email_mark_verified(user=staff)
        two_factor_enrol(user=staff, secret=STAFF_TOTP_SECRET)
    alice = actions.account_signup(
        email="alice@acme.test",
        password=PASSWORD,
        full_name="Alice Partner",
        org_name="Acme Audiences",
    )
    bob = actions.account_signup(
        email="bob@globex.test",
        password=PASSWORD,
        full_name="Bob Globex",
        org_name="Globex Analytics",
    )
    acme = Membership.objects.get(user=alice).org
    globex = Membership.objects.get(user=bob).org
    actions.flag_set(acting_user=adam, org=acme, flag=DEVELOPER_PORTAL, enabled=True)
    alan = User.objects.create_user("alan@acme.test", PASSWORD, full_name="Alan Member")
    actions.email_mark_verified(user=alan)
    Membership.objects.create(user=alan, org=acme, role=MemberRole.MEMBER, is_developer=False)
    return Cast(
        alice=alice,
        alan=alan,
        bob=bob,
        rita=rita,
        adam=adam,
        acme=acme,
        globex=globex,
        acme_project=actions.project_create(acting_user=alice, org=acme, name="Acme Web"),
        globex_project=actions.project_create(acting_user=bob, org=globex, name="Globex Shop"),
    )


@pytest.fixture
def cast(db):
    return build_cast()


@pytest.fixture
def client_for():
    """`client_for(user)`: a test client signed in as that person."""

    from django.test import Client

    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def celery_worker(transactional_db):
    """A real Celery worker (Celery's own worker, in a thread) on the real Redis broker."""
    from celery.contrib.testing.worker import start_worker

    from portal.celery import app

    app.control.purge()
    with start_worker(
        app, pool="solo", perform_ping_check=False, shutdown_timeout=30, loglevel="WARNING"
    ) as worker:
        yield worker


@pytest.fixture
def finished_tasks():
    """The tasks the in-process Celery worker finished during the test, by task id, with
    their state: proof that a message was taken and handled, where the handling itself
    leaves nothing to see (a redelivered message that finds its work done)."""
    from celery.signals import task_postrun

    finished: dict[str, str] = {}

    def record(sender=None, task_id=None, state=None, **_):
        finished[task_id] = state

    task_postrun.connect(record, weak=False)
    yield finished
    task_postrun.disconnect(record)


@pytest.fixture(autouse=True)
def _fresh_cache(request):
    """Each Django test starts with empty caches: the database one (allauth's rate limits,
    used two-factor codes) and Redis (import progress)."""
    if "django_db_setup" not in request.fixturenames and not request.node.get_closest_marker(
        "django_db"
    ):
        yield
        return
    from django.core.cache import caches

    with request.getfixturevalue("django_db_blocker").unblock():
        caches["default"].clear()
    caches["progress"].clear()
    yield


@pytest.fixture
def api_for():
    """`api_for(user, org)`: a DRF client authenticated with a fresh token of that person."""
    from rest_framework.test import APIClient

    from portal import actions

    def make(user, org):
        _, raw = actions.token_create(acting_user=user, org=org, name="tests")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
        return client

    return make


@pytest.fixture
def alice_api(cast, api_for):
    return api_for(cast.alice, cast.acme)


@pytest.fixture
def tested_draft(cast, start_partner):
    """A draft of Acme with a logo and a full test that passed against a demo partner of
    its own: ready to submit."""
    import base64

    from syncengine import actions, testruns
    from tests.integrations.conftest import png_bytes
    from tests.syncengine.conftest import list_manifest, make_draft, save_settings

    partner = start_partner()
    manifest = list_manifest(partner.url, name="Loopback Lists")
    manifest["logo_png_base64"] = base64.b64encode(png_bytes(128, 128)).decode()
    integration = make_draft(cast, manifest)
    save_settings(cast, integration, users_count=5)
    run = actions.test_run_start(acting_user=cast.alice, integration=integration)
    assert testruns.execute_test_run(run.pk).status == "passed"
    return integration


@pytest.fixture
def submitted_version(cast, tested_draft):
    """A real submission of Acme: `tested_draft`, submitted."""
    from reviews import submissions

    return submissions.integration_submit(
        acting_user=cast.alice, integration=tested_draft, note="Please review"
    )
