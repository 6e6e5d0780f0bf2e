"""How values read as text and how rendered values become JSON bytes."""

from __future__ import annotations

import json

import orjson
import pytest

from syncengine.core.template.errors import RenderError
from syncengine.core.template.json_codegen import JsonTemplate
from syncengine.core.template.values import dumps_json, fix_surrogates, value_as_text


def render(template: str, **values: object) -> object:
    """Render a JSON template and decode the result, as a partner would receive it."""
    return json.loads(JsonTemplate(template).render_bytes(values))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "true"),
        (False, "false"),
        (None, "null"),
        (3.5, "3.5"),
        ([1, "a"], '[1,"a"]'),
        ({"k": "v"}, '{"k":"v"}'),
    ],
)
def test_non_text_values_interpolate_as_their_json_text(value, text):
    assert render('"<$v>"', v=value) == f"<{text}>"


def test_value_as_text_keeps_strings_raw():
    assert value_as_text('a"b\\c') == 'a"b\\c'
    assert value_as_text(12) == "12"


def test_fix_surrogates_keeps_valid_text_and_pairs():
    assert fix_surrogates("héllo 😀") == "héllo 😀"
    assert fix_surrogates("\ud83d\ude00") == "😀"
    assert fix_surrogates("a\udc00") == "a\ufffd"


def test_it_replaces_lone_surrogates_in_values_with_the_replacement_character():
    assert render('{"a": $v, "b": "x$v"}', v="a\ud800b") == {"a": "a\ufffdb", "b": "xa\ufffdb"}


def test_it_encodes_integers_beyond_64_bits():
    assert dumps_json({"n": 2**70}) == b'{"n":1180591620717411303424}'


def test_it_turns_non_finite_numbers_into_null_in_the_fallback_path():
    assert json.loads(dumps_json([float("nan"), "\ud800"])) == [None, "\ufffd"]


def test_it_refuses_values_that_are_not_json():
    with pytest.raises(RenderError, match="type object"):
        dumps_json(["\ud800", object()])


def test_orjson_is_the_serialiser():
    """The fast path is one orjson.dumps of the whole payload (same bytes)."""
    value = {"a": [1, "é", None]}
    assert dumps_json(value) == orjson.dumps(value)
