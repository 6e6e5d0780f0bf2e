"""A configuration's fingerprint (integrations/manifests.py): the same as the hash of its
canonical text, whether worked out or found among the fingerprints seen lately."""

from __future__ import annotations

import hashlib

from integrations import manifests
from syncengine.core.manifest.normalize import canonical_json
from tests.integrations.conftest import fixture_manifest


def canonical(manifest: dict) -> str:
    return hashlib.sha256(canonical_json(manifest)).hexdigest()[:32]


def test_a_kept_fingerprint_is_the_canonical_one_and_any_change_changes_it():
    manifests._fingerprints.clear()
    manifest = manifests.assemble(fixture_manifest("acme_list"), None)
    first = manifests.config_fingerprint(manifest)
    assert first == canonical(manifest)
    assert len(manifests._fingerprints) == 1
    assert manifests.config_fingerprint(manifest) == first  # found, not worked out again
    assert len(manifests._fingerprints) == 1

    # Header order is part of the canonical text, so it is part of the kept one's key too.
    endpoint = manifest["endpoints"]["add_users"]
    headers = {"X-One": "1", "X-Two": "2"}
    swapped = {"X-Two": "2", "X-One": "1"}
    one = manifest | {
        "endpoints": manifest["endpoints"] | {"add_users": endpoint | {"headers": headers}}
    }
    two = manifest | {
        "endpoints": manifest["endpoints"] | {"add_users": endpoint | {"headers": swapped}}
    }
    assert manifests.config_fingerprint(one) == canonical(one)
    assert manifests.config_fingerprint(two) == canonical(two)
    assert (canonical(one) == canonical(two)) == (
        manifests.config_fingerprint(one) == manifests.config_fingerprint(two)
    )
    # A value of another type with the same text is another configuration.
    flagged = manifest | {"slugify_cohort_name": True}
    numbered = manifest | {"slugify_cohort_name": 1}
    assert manifests.config_fingerprint(flagged) == canonical(flagged)
    assert manifests.config_fingerprint(numbered) == canonical(numbered)
