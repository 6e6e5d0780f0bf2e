"""What a conformance check result holds, and how it is stored."""

from __future__ import annotations

import pytest

from syncengine.core.conformance.results import CHECK_KEYS, PASSED, CheckResult, json_ready


def test_a_check_result_refuses_an_unknown_status():
    with pytest.raises(ValueError, match="status must be one of"):
        CheckResult(key="k", title="t", status="skipped", detail="d")


def test_a_result_as_stored_has_lists_where_it_had_tuples():
    exchange = {"label": "add_users", "request": {"headers": (("Accept", "*/*"),)}}
    result = CheckResult(CHECK_KEYS[0], "title", PASSED, "detail", (exchange,))
    stored = result.as_dict()
    assert stored["exchanges"] == [
        {"label": "add_users", "request": {"headers": [["Accept", "*/*"]]}}
    ]
    assert json_ready(stored) == stored
    stored["exchanges"][0]["label"] = "changed"
    assert result.exchanges[0]["label"] == "add_users"
