"""What the conformance checks send: their own users and credentials that are wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from syncengine.core.compiler import compile_manifest
from syncengine.core.conformance.inputs import (
    WRONG_CREDENTIAL_PREFIX,
    bad_credentials_context,
    check_users,
)
from syncengine.core.types import RenderContext

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CONTEXT = RenderContext(values={"bearer_token": "tok-real"}, mapping={"user_id_field": "user_id"})


def integration(**changes):
    doc = json.loads((FIXTURES / "conformance_list.json").read_text())
    doc.update(changes)
    return compile_manifest(doc)


def test_each_check_gets_its_own_users_and_each_run_other_ones():
    groups = check_users(
        integration(), add_endpoint="add_users", remove_endpoint="remove_users", scope="run:1"
    )
    assert {name: len(users) for name, users in groups.items()} == {
        "full_batch": 25,
        "unknown": 10,
        "repeated": 3,
        "bad_credentials": 1,
    }
    ids = [user["user_id"] for users in groups.values() for user in users]
    assert len(ids) == len(set(ids))
    again = check_users(
        integration(), add_endpoint="add_users", remove_endpoint="remove_users", scope="run:1"
    )
    other = check_users(
        integration(), add_endpoint="add_users", remove_endpoint="remove_users", scope="run:2"
    )
    assert again == groups
    assert not set(ids) & {user["user_id"] for users in other.values() for user in users}


def test_made_up_credentials_replace_every_value_the_auth_reads():
    context, described = bad_credentials_context(integration(), CONTEXT, None)
    assert context is not None
    assert context.values["bearer_token"].startswith(WRONG_CREDENTIAL_PREFIX)
    assert described == "made-up values for $bearer_token"


def test_given_credentials_must_differ_from_the_real_ones():
    with pytest.raises(ValueError, match="same credentials"):
        bad_credentials_context(integration(), CONTEXT, CONTEXT)


def test_without_authentication_there_is_nothing_to_get_wrong():
    context, described = bad_credentials_context(
        integration(auth={"method": "none"}), CONTEXT, None
    )
    assert context is None
    assert "no authentication" in described
