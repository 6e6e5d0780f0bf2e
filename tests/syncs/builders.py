"""Destinations, connections and syncs for the pages' and the API's tests, built through the
actions people use: a draft released internally (Acme's own tile), or tested, submitted
and approved by rita (a tile in every organisation's catalogue); connections made with
`connection_create`, syncs with `sync_create`."""

from __future__ import annotations

import base64
from typing import Any

from integrations.models import Destination
from integrations.releases import integration_release
from portal import actions as portal_actions
from reviews import decisions, submissions
from syncengine import actions as testing_actions
from syncengine import testruns
from syncs import actions
from syncs.models import CohortSync, Connection
from tests.integrations.conftest import png_bytes
from tests.syncengine.conftest import BASE, TOKEN, list_manifest, make_draft, save_settings


def released(cast, manifest: dict | None = None, *, org=None, user=None) -> Destination:
    """A draft released internally: a tile its own organisation alone sees."""
    draft = make_draft(cast, manifest or list_manifest(BASE), org=org, user=user)
    integration_release(acting_user=user or cast.alice, integration=draft)
    return draft.destinations.get(channel="internal")


def approved(cast, partner_url: str, *, name: str = "Catalogue Lists") -> Destination:
    """Acme's draft for a loopback partner, with a logo: a passing full test, submitted,
    approved."""
    manifest = list_manifest(partner_url, name=name, batch_size=10)
    manifest["logo_png_base64"] = base64.b64encode(png_bytes(128, 128)).decode()
    draft = make_draft(cast, manifest)
    save_settings(cast, draft, users_count=5)
    run = testing_actions.test_run_start(acting_user=cast.alice, integration=draft)
    assert testruns.execute_test_run(run.pk).status == "passed"
    version = submissions.integration_submit(acting_user=cast.alice, integration=draft)
    decisions.review_approve(acting_user=cast.rita, version=version)
    return draft.destinations.get(channel="approved")


def connect(
    cast,
    destination: Destination,
    *,
    user=None,
    org=None,
    project=None,
    name: str = "Acme lists",
    values: dict[str, Any] | None = None,
    mapping: dict[str, Any] | None = None,
) -> Connection:
    return actions.connection_create(
        acting_user=user or cast.alice,
        org=org or cast.acme,
        destination=destination,
        project=project or cast.acme_project,
        name=name,
        values=values if values is not None else {"bearer_token": TOKEN, "region": "eu"},
        mapping=mapping if mapping is not None else {"user_id_field": "email"},
    )


def cohort_of(cast, name: str, members: int = 0, *, project=None, user=None):
    cohort = portal_actions.cohort_create(
        acting_user=user or cast.alice, project=project or cast.acme_project, name=name
    )
    if members:
        portal_actions.cohort_members_replace(
            acting_user=user or cast.alice,
            cohort=cohort,
            members=[
                {"user_id": f"user-{n:04d}", "email": f"user{n}@example.test"}
                for n in range(members)
            ],
        )
        cohort.refresh_from_db()
    return cohort


def add_sync(
    cast,
    connection: Connection,
    *,
    cohort=None,
    cadence: str = "manual",
    daily_hour: int | None = None,
    user=None,
) -> CohortSync:
    cohort = cohort or cohort_of(cast, "Power users", user=user)
    return actions.sync_create(
        acting_user=user or cast.alice,
        connection=connection,
        cohort=cohort,
        cadence_value=cadence,
        daily_hour=daily_hour,
    )


def globex_world(cast) -> dict[str, Any]:
    """Globex's own connection and sync, on its internal release: what alice must never
    reach."""
    destination = released(
        cast, list_manifest(BASE, name="Globex Lists"), org=cast.globex, user=cast.bob
    )
    connection = connect(
        cast,
        destination,
        user=cast.bob,
        org=cast.globex,
        project=cast.globex_project,
        name="Globex lists",
    )
    cohort = cohort_of(cast, "Globex synced buyers", 3, project=cast.globex_project, user=cast.bob)
    sync = add_sync(cast, connection, cohort=cohort, user=cast.bob)
    return {"destination": destination, "connection": connection, "sync": sync}


def synced(
    cast,
    partner_url: str,
    *,
    members: int,
    batch_size: int = 10,
    runs_count: int = 1,
    name: str = "Loopback Lists",
) -> CohortSync:
    """Acme's sync of a cohort of `members` to a loopback partner (its internal release),
    run `runs_count` times on this thread by the engine itself, as `manage.py sync run`
    does."""
    from syncs import engine, runs

    destination = released(cast, list_manifest(partner_url, name=name, batch_size=batch_size))
    connection = connect(cast, destination, name=f"{name} connection")
    sync = add_sync(cast, connection, cohort=cohort_of(cast, f"{name} cohort", members))
    for _ in range(runs_count):
        run = runs.run_create(sync, kind="manual", acting_user=cast.alice, enqueue=False)
        finished = engine.execute_run(run.pk)
        assert finished is not None and finished.status == "succeeded", finished
    sync.refresh_from_db()
    return sync
