import re

import pytest

from syncengine.core.jsonpath import MAX_INDEX, PathNotFound, PathSyntaxError, lookup, parse_path


def test_paths_mix_keys_and_indexes():
    assert parse_path("lists.0.id") == ("lists", 0, "id")
    assert lookup({"lists": [{"id": "a"}]}, "lists.0.id") == "a"
    assert lookup({"0": "digit key"}, "0") == "digit key"


def test_a_missing_value_says_how_far_the_lookup_got():
    with pytest.raises(PathNotFound, match=re.escape("no key 'id' (at data)")):
        lookup({"data": {}}, "data.id")


@pytest.mark.parametrize("path", ["", "a..b", ".a", "a b", f"lists.{MAX_INDEX + 1}.id"])
def test_malformed_paths_are_refused(path):
    with pytest.raises(PathSyntaxError):
        parse_path(path)


# --- where an answer seems to keep its id ---------------------------------------------------


def test_an_id_is_suggested_where_the_answer_has_one():
    from syncengine.core.jsonpath import suggest_id_path

    assert suggest_id_path({"data": {"id": "lst_1", "name": "x"}}) == ("data.id", "lst_1")
    assert suggest_id_path({"result": [{"listId": 42}]}) == ("result.0.listId", "42")
    # A key that names a list wins over a shallower id; then the shallowest.
    assert suggest_id_path({"id": "req_9", "list": {"list_id": "L7"}}) == ("list.list_id", "L7")
    assert suggest_id_path({"a": {"b": {"id": "deep"}}, "c": {"id": "near"}}) == ("c.id", "near")


def test_nothing_is_suggested_without_a_usable_id():
    from syncengine.core.jsonpath import suggest_id_path

    assert suggest_id_path({"ok": True, "name": "x"}) is None
    assert suggest_id_path({"id": "", "uid": None, "valid": True, "ids": ["a"]}) is None
    assert suggest_id_path([1, 2, 3]) is None
    assert suggest_id_path("lst_1") is None
    # The path that failed is not suggested back.
    assert suggest_id_path({"data": {"id": "x"}}, besides="data.id") is None
    # Keys that cannot be written as a path are skipped.
    assert suggest_id_path({"the list": {"id": "x"}}) is None
