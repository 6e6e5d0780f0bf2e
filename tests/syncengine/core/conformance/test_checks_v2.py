"""Conformance checks of a version-2 integration: batches are delivered as a sync delivers
them (lookups, creates, per-user requests), against a real loopback partner."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from syncengine.core.compiler import compile_manifest
from syncengine.core.conformance.checks import run_conformance
from syncengine.core.conformance.results import (
    BAD_CREDENTIALS_REFUSED,
    CHECK_KEYS,
    FULL_BATCH_ACCEPTED,
    NOT_APPLICABLE,
    PASSED,
    REPEATED_IDEMPOTENCY_KEY_ACCEPTED,
    UNKNOWN_USERS_ACCEPTED,
)
from syncengine.core.http import OutboundClient
from syncengine.core.types import RenderContext
from tests.fakes.directory import TOKEN, DirectoryApi
from tests.syncengine.core.test_delivery import manifest_for

CONTEXT = RenderContext(values={"bearer_token": TOKEN}, mapping={"email": "email"})


@pytest.fixture
def api() -> Iterator[DirectoryApi]:
    with DirectoryApi() as running:
        yield running  # type: ignore[misc]


@pytest.fixture
def client() -> Iterator[OutboundClient]:
    with OutboundClient(allow_private_networks=True, read_timeout=5, deadline=10) as outbound:
        yield outbound


def small(base: str) -> dict:
    doc = manifest_for(base)
    doc["endpoints"]["add_users"]["batch_size"] = 20
    return doc


def test_every_check_passes_with_lookups_creates_and_per_user_removals(api, client):
    integration = compile_manifest(small(api.base_url))

    results = run_conformance(integration, client, context=CONTEXT, scope="review:1:run:1")

    statuses = {result.key: result.status for result in results}
    assert statuses == dict.fromkeys(CHECK_KEYS, PASSED), [r.detail for r in results]
    by_key = {result.key: result for result in results}
    # The full batch went through the lookup and the create requests first.
    labels = [e["label"] for e in by_key[FULL_BATCH_ACCEPTED].exchanges]
    assert labels[0] == "add_users (full batch of 20): add_users.lookup"
    assert labels[-1] == "add_users (full batch of 20)"
    assert len(labels) == 1 + 20 + 1
    # Removing users never added: the lookup found none, so nothing failed.
    unknown = by_key[UNKNOWN_USERS_ACCEPTED]
    assert "skipped all 10" in unknown.detail
    assert api.calls_to("DELETE", r"/lists/.+/members/.+") == []
    # Wrong credentials are refused by the first request a sync sends: the lookup.
    refused = by_key[BAD_CREDENTIALS_REFUSED]
    assert refused.exchanges[0]["request"]["url"].endswith("/people/search")
    assert "401" in refused.detail
    assert "twice with the same Idempotency-Key" in by_key[REPEATED_IDEMPOTENCY_KEY_ACCEPTED].detail
    (created,) = api.lists.values()
    assert len(created["members"]) == 20 + 3  # the full batch and the repeated batch


def test_a_full_batch_that_the_lookup_skips_entirely_is_not_applicable(api, client):
    doc = small(api.base_url)
    lookup = doc["endpoints"]["add_users"]["lookup"]
    lookup["not_found"] = "skip"
    del lookup["create"]
    integration = compile_manifest(doc)

    results = run_conformance(integration, client, context=CONTEXT, scope="review:1:run:2")

    by_key = {result.key: result for result in results}
    for key in (FULL_BATCH_ACCEPTED, REPEATED_IDEMPOTENCY_KEY_ACCEPTED):
        assert by_key[key].status == NOT_APPLICABLE
        assert "unknown to your platform" in by_key[key].detail
    assert api.calls_to("POST", r"/lists/.+/members") == []
