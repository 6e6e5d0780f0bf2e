"""Another organisation's objects are a 404 on every URL that takes an id.

The test walks the URL configuration, so a new URL with an id that this file does not know
how to fill makes it fail until someone decides what the outsider should get. For every
URL, another org's id must get exactly what an id that does not exist gets (so ids cannot
be probed): a 404, or a 403 where the URL is for another role altogether (reviewers).
"""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from integrations import actions as integration_actions
from integrations import releases
from integrations.models import Integration
from portal import actions
from portal.models import ApiToken, CohortImport, Membership
from syncengine import actions as testing_actions
from syncs import runs
from syncs.models import CohortSync, Connection
from tests.integrations.conftest import fixture_manifest
from tests.syncs.builders import globex_world

# URL kwargs that are not tenant ids (staff-only pages, one-time tokens).
NOT_TENANT_IDS = {"uidb64", "token", "org_id", "request_id", "destination_id"}
MISSING = {"int": 987_654_321, "str": "zz-no-such-id"}


def patterns_with_ids(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from patterns_with_ids(entry, route)
        elif isinstance(entry, URLPattern) and entry.pattern.converters:
            yield route, entry


def foreign_ids(cast) -> dict[str, object]:
    """Ids of things that belong to Globex (org B): alice (org A) must never reach them."""
    cohort = actions.cohort_create(
        acting_user=cast.bob, project=cast.globex_project, name="Globex buyers"
    )
    job = CohortImport.objects.create(cohort=cohort, uploaded_by=cast.bob, status="succeeded")
    token, _ = actions.token_create(acting_user=cast.bob, org=cast.globex, name="bob's")
    integration = integration_actions.integration_create(
        acting_user=cast.bob, org=cast.globex, display_name="Globex Sync", integration_type="list"
    )
    released = integration_actions.integration_import(
        acting_user=cast.bob, org=cast.globex, manifest=fixture_manifest()
    )
    version = releases.integration_release(acting_user=cast.bob, integration=released)
    testing_actions.test_settings_save(
        acting_user=cast.bob,
        integration=released,
        project_id=cast.globex_project.public_id,
        api_key=cast.globex_project.api_key,
        values={"bearer_token": "globex-token", "region": "us"},
        mapping={"user_id_field_amplitude": "user_id"},
    )
    run = testing_actions.test_run_start(acting_user=cast.bob, integration=released)
    synced = globex_world(cast)
    sync_run = runs.run_create(synced["sync"], kind="manual", enqueue=False)
    return {
        "connection_id": synced["connection"].pk,
        "sync_id": synced["sync"].pk,
        "sync_run_id": sync_run.pk,
        "run_id": run.pk,
        "sequence": 1,
        "version_id": version.pk,
        "integration_id": integration.pk,
        "number": 1,
        "project_id": cast.globex_project.public_id,
        "cohort_id": cohort.public_id,
        "import_id": job.pk,
        "member_id": Membership.objects.get(user=cast.bob).pk,
        "token_id": token.pk,
    }


def missing_ids(entry) -> dict[str, object]:
    return {
        name: MISSING["int"] if type(converter).__name__ == "IntConverter" else MISSING["str"]
        for name, converter in entry.pattern.converters.items()
    }


def build_path(route: str, values: dict) -> str:
    path = route
    for name, value in values.items():
        for converter in ("int", "str", "slug", "path", "uuid"):
            path = path.replace(f"<{converter}:{name}>", str(value))
        path = path.replace(f"<{name}>", str(value))
    return "/" + path.lstrip("^").rstrip("$")


@pytest.mark.parametrize("method", ["get", "post", "put", "delete"])
def test_other_orgs_objects_are_404_everywhere(cast, client_for, method):
    ids = foreign_ids(cast)
    alice = client_for(cast.alice)
    _, raw = actions.token_create(acting_user=cast.alice, org=cast.acme, name="alice api")
    checked = 0
    for route, entry in patterns_with_ids():
        names = set(entry.pattern.converters)
        # Django's own admin is for superusers only and not tenant-scoped by design.
        if route.startswith("django-admin/") or names & NOT_TENANT_IDS:
            continue
        unknown = names - ids.keys()
        assert not unknown, f"{route}: add an id for {unknown} to foreign_ids()"
        path = build_path(route, ids)
        extra = {"HTTP_AUTHORIZATION": f"Token {raw}"} if path.startswith("/api/") else {}
        response = getattr(alice, method)(path, **extra)
        if response.status_code == 405:
            continue
        missing = getattr(alice, method)(build_path(route, missing_ids(entry)), **extra)
        assert response.status_code in (403, 404), (
            f"{method.upper()} {path} -> {response.status_code}"
        )
        assert response.status_code == missing.status_code, f"{method.upper()} {path} differs"
        checked += response.status_code == 404
    assert checked >= 5
    # Nothing of Globex's changed.
    assert ApiToken.objects.get(pk=ids["token_id"]).revoked_at is None
    assert Membership.objects.filter(pk=ids["member_id"]).exists()
    globex_draft = Integration.objects.get(pk=ids["integration_id"])
    assert (globex_draft.display_name, globex_draft.revision) == ("Globex Sync", 1)
    globex_sync = CohortSync.objects.get(pk=ids["sync_id"])
    assert not globex_sync.paused and globex_sync.cadence == "manual"
    assert Connection.objects.get(pk=ids["connection_id"]).name == "Globex lists"
