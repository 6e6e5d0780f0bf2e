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
