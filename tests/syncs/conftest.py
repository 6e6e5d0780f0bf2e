"""Fixtures for cohort syncs: a destination released from a draft pointed at a loopback
partner, a connection of Acme to it, a cohort with members and a sync of it.

Cohort changes are made with `change_cohort`, which does what every membership change
does: new members and departures, one new snapshot and its change log, in one
transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from django.db import transaction
from django.db.models import F

from demo_partner import manifests as demo_manifests
from integrations.releases import integration_release
from portal import actions as portal_actions
from portal.models import Cohort, CohortChange, CohortMember
from syncs.models import CohortSync, Connection
from tests.syncengine.conftest import TOKEN, make_draft

CHUNK = 5_000


def list_manifest(base: str, *, name: str = "Loopback Lists", **options: Any) -> dict:
    return demo_manifests.list_manifest(base, name=name, **options)


def property_manifest(base: str, *, name: str = "Loopback Properties", **options: Any) -> dict:
    return demo_manifests.property_manifest(base, name=name, **options)


def member(key: int) -> dict[str, Any]:
    return {"user_id": f"user-{key:07d}", "email": f"user{key}@example.com", "plan": "pro"}


def change_cohort(cohort: Cohort, *, add: Iterable[int] = (), remove: Iterable[int] = ()) -> int:
    """Add members `user-<n>` and remove others as one new snapshot; returns it."""
    add, remove = list(add), list(remove)
    with transaction.atomic():
        Cohort.objects.filter(pk=cohort.pk).update(snapshot=F("snapshot") + 1)
        snapshot = Cohort.objects.values_list("snapshot", flat=True).get(pk=cohort.pk)
        removed_keys = [f"u:user-{n:07d}" for n in remove]
        for start in range(0, len(removed_keys), CHUNK):
            CohortMember.objects.filter(
                cohort=cohort, member_key__in=removed_keys[start : start + CHUNK]
            ).delete()
        for start in range(0, len(add), CHUNK):
            CohortMember.objects.bulk_create(
                [
                    CohortMember(
                        cohort=cohort,
                        member_key=f"u:user-{n:07d}",
                        user_id=f"user-{n:07d}",
                        email=f"user{n}@example.com",
                        properties={"plan": "pro"},
                    )
                    for n in add[start : start + CHUNK]
                ],
                ignore_conflicts=True,
            )
        changes = [
            CohortChange(
                cohort=cohort, snapshot=snapshot, member_key=f"u:user-{n:07d}", entered=True
            )
            for n in add
        ] + [
            CohortChange(cohort=cohort, snapshot=snapshot, member_key=key, entered=False)
            for key in removed_keys
        ]
        CohortChange.objects.bulk_create(changes, batch_size=CHUNK)
        count = CohortMember.objects.filter(cohort=cohort).count()
        Cohort.objects.filter(pk=cohort.pk).update(member_count=count)
    cohort.refresh_from_db()
    return snapshot


def cohort_keys(cohort: Cohort) -> set[str]:
    """The cohort's members as the demo manifests send them (user ids)."""
    return set(CohortMember.objects.filter(cohort=cohort).values_list("user_id", flat=True))


def make_sync(
    cast,
    manifest: dict,
    *,
    members: Iterable[int] = (),
    cohort_name: str = "Engaged users",
    values: dict[str, str] | None = None,
    mapping: dict[str, str] | None = None,
    **sync_fields: Any,
) -> CohortSync:
    """Acme's draft of `manifest`, released internally, connected and synced."""
    draft = make_draft(cast, manifest)
    version = integration_release(acting_user=cast.alice, integration=draft)
    destination = draft.destinations.get()
    connection = Connection.objects.create(
        org=cast.acme,
        project=cast.acme_project,
        destination=destination,
        version=version,
        name=f"{manifest['display_name']} connection",
        values=values if values is not None else {"bearer_token": TOKEN},
        mapping=mapping if mapping is not None else {"user_id_field": "user_id"},
        created_by=cast.alice,
    )
    return another_sync(cast, connection, members=members, cohort_name=cohort_name, **sync_fields)


def another_sync(
    cast,
    connection: Connection,
    *,
    members: Iterable[int] = (),
    cohort_name: str = "Other users",
    **sync_fields: Any,
) -> CohortSync:
    """A sync of a new cohort on an existing connection (the same destination)."""
    cohort = portal_actions.cohort_create(
        acting_user=cast.alice, project=cast.acme_project, name=cohort_name
    )
    members = list(members)
    if members:
        change_cohort(cohort, add=members)
    sync_fields.setdefault("cadence", "manual")
    return CohortSync.objects.create(
        connection=connection, cohort=cohort, created_by=cast.alice, **sync_fields
    )


@pytest.fixture
def fast_retries(settings):
    """Retries wait milliseconds instead of seconds; Retry-After is still honoured."""
    settings.RETRY_BASE_DELAY_SECONDS = 0.01
    return settings


@pytest.fixture
def short_limits(settings):
    """A partner that never answers is cut within a second or two instead of a minute."""
    settings.OUTBOUND_CLIENT_OPTIONS = {"read_timeout": 1.0, "deadline": 1.5}
    return settings


RUN_TIMEOUT = 60.0


def wait_for_run(run, timeout: float = RUN_TIMEOUT):
    """The run once it has ended (polling the database, as the pages do)."""
    from tests.waiting import wait_until

    def finished():
        run.refresh_from_db()
        return run if run.is_finished else None

    return wait_until(
        finished, timeout, lambda: f"run {run.pk} still {run.status} after {timeout} s"
    )


def partner_requests(partner, part: str = "/members") -> list[dict]:
    return [entry for entry in partner.state.log_entries() if part in entry["path"]]


def sent_ids(entries: list[dict]) -> list[str]:
    """Every user id in the logged add/remove bodies."""
    import json

    return [user for entry in entries for user in json.loads(entry["body"])["userIds"]]


# Workers in processes of their own: tests/workers.py (`start_worker`, shared by all tests).
