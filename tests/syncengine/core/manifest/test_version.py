"""`needed_version`: which version a manifest's constructs need, agreeing with the checks."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from syncengine.core.diagnostic_codes import NEEDS_VERSION_2
from syncengine.core.manifest.checks import check_manifest
from syncengine.core.manifest.version import needed_version
from tests.syncengine.core.manifest.conftest import VALID_FIXTURES, acme, fixture

COOKBOOK = sorted((Path(__file__).resolve().parents[4] / "docs" / "cookbook").glob("*.json"))


def refused_as_version_1(doc: dict[str, Any]) -> bool:
    as_version_1 = {**copy.deepcopy(doc), "manifest_version": 1}
    return any(d.code == NEEDS_VERSION_2 for d in check_manifest(as_version_1))


@pytest.mark.parametrize("name", VALID_FIXTURES)
def test_a_version_1_manifest_needs_version_1(name):
    doc = fixture(name)
    assert needed_version(doc) == 1
    assert not refused_as_version_1(doc)


@pytest.mark.parametrize("path", COOKBOOK, ids=lambda path: path.stem)
def test_every_cookbook_manifest_needs_version_2(path):
    doc = json.loads(path.read_text())
    assert needed_version(doc) == 2
    assert refused_as_version_1(doc)


CONSTRUCTS = {
    "per-user mode": lambda d: d["endpoints"]["add_users"].update(mode="per_user"),
    "a batch mode written out": lambda d: d["endpoints"]["add_users"].update(mode="batch"),
    "an auth override": lambda d: d["endpoints"]["remove_users"].update(auth={"method": "none"}),
    "a lookup": lambda d: d["endpoints"]["add_users"].update(lookup={}),
    "a find request": lambda d: d["endpoints"]["create_list"].update(find={}),
    "a mapping field's if_missing": lambda d: d["mapping_fields"][0].update(if_missing="skip"),
    "a custom field's if_missing": lambda d: d["custom_fields"][1].update(if_missing="omit"),
    "a mapping field's default": lambda d: d["mapping_fields"][0].update(default="x"),
    "a typed placeholder": lambda d: d["endpoints"]["add_users"].update(
        item_template='"${user_id_field_amplitude:string}"'
    ),
    "the batch in a URL": lambda d: d["endpoints"]["remove_users"].update(
        url="https://api.acme.test/remove?ids=${items:join(,)}"
    ),
    "base64 in the auth header": lambda d: d.update(
        auth={
            "method": "api_key_header",
            "header_name": "Authorization",
            "value_template": "Basic ${bearer_token:base64}",
        }
    ),
    "$partner_id": lambda d: d["endpoints"]["add_users"].update(item_template='"$partner_id"'),
    "$item": lambda d: d["endpoints"]["add_users"].update(payload='{"user": $item}'),
}


@pytest.mark.parametrize("change", CONSTRUCTS.values(), ids=CONSTRUCTS.keys())
def test_each_construct_needs_version_2_as_the_checks_say(change):
    doc = acme()
    change(doc)
    assert needed_version(doc) == 2
    assert refused_as_version_1(doc)


def test_a_field_named_like_a_new_variable_does_not_make_it_version_1():
    doc = acme()
    doc["mapping_fields"][0]["variable"] = "partner_id"  # reserved in every version
    doc["endpoints"]["add_users"]["item_template"] = '"$partner_id"'
    assert needed_version(doc) == 2
    assert refused_as_version_1(doc)


@pytest.mark.parametrize("value", [None, [], "2", {"endpoints": []}, {"mapping_fields": [1]}])
def test_any_json_value_gets_an_answer(value):
    assert needed_version(value) == 1
