"""Compiled JSON templates: typed values, interpolation and item templates, one rule per test."""

from __future__ import annotations

import json

import pytest

from syncengine.core.template.errors import RenderError
from syncengine.core.template.json_codegen import JsonTemplate
from syncengine.core.template.json_parser import MAX_TEMPLATE_DEPTH


def render(template: str, **values: object) -> object:
    """Render a JSON template and decode the result, as a partner would receive it."""
    return json.loads(JsonTemplate(template).render_bytes(values))


def test_a_bare_placeholder_becomes_the_typed_value():
    assert render('{"ids": $items}', items=[1, "two", None]) == {"ids": [1, "two", None]}


def test_a_string_that_is_exactly_one_placeholder_becomes_the_typed_value():
    assert render('{"ids": "$items"}', items=[1, 2]) == {"ids": [1, 2]}
    assert render('{"n": "${count}"}', count=7) == {"n": 7}
    assert render('{"flag": "$flag"}', flag=False) == {"flag": False}


def test_a_whole_template_can_be_one_placeholder():
    assert render('"$user"', user="alice") == "alice"
    assert render("$user", user={"id": 1}) == {"id": 1}


def test_a_placeholder_inside_longer_text_is_interpolated_as_text():
    assert render('{"label": "[Amplitude] ${name}: ${id}"}', name="Fans", id=42) == {
        "label": "[Amplitude] Fans: 42"
    }


def test_keys_interpolate_as_text():
    assert render('{"attr_$name": 1, "$n": 2}', name="plan", n=5) == {"attr_plan": 1, "5": 2}


def test_it_refuses_interpolated_keys_that_collide():
    with pytest.raises(RenderError, match="same text"):
        JsonTemplate('{"$a": 1, "$b": 2}').render({"a": "x", "b": "x"})


def test_it_ignores_placeholders_in_values():
    """A value is inserted once and never scanned again."""
    assert render('{"a": "$a", "b": "x $a"}', a="$b ${b} $$", b="SHOULD NOT APPEAR") == {
        "a": "$b ${b} $$",
        "b": "x $b ${b} $$",
    }


def test_hostile_values_cannot_add_keys_or_break_structure():
    hostile = '", "admin": true, "x": "\\ \n } ] {'
    result = render('{"name": "$v", "label": "pre $v post"}', v=hostile)
    assert result == {"name": hostile, "label": f"pre {hostile} post"}


def test_a_five_megabyte_value_renders():
    big = "x" * 5_000_000
    assert render('{"v": "[$v]"}', v=big) == {"v": f"[{big}]"}


def test_a_template_at_the_nesting_limit_compiles_and_renders():
    depth = MAX_TEMPLATE_DEPTH
    template = '{"k": ' * depth + '"$x"' + "}" * depth
    value = JsonTemplate(template).render({"x": 1})
    for _ in range(depth):
        value = value["k"]
    assert value == 1


def test_item_templates_read_per_user_variables_from_the_mapped_property():
    template = JsonTemplate(
        '{"id": "$uid", "email": $mail, "label": "[Amplitude] ${cohort}: ${uid}"}',
        per_user={"uid", "mail"},
    )
    users = [{"user_id": "alice", "email": "a@example.com"}, {"user_id": 7}]
    items = template.render_items(users, {"cohort": "Fans"}, {"uid": "user_id", "mail": "email"})
    assert items == [
        {"id": "alice", "email": "a@example.com", "label": "[Amplitude] Fans: alice"},
        {"id": 7, "email": None, "label": "[Amplitude] Fans: 7"},
    ]


def test_an_item_template_can_be_a_single_value():
    template = JsonTemplate('"$uid"', per_user={"uid"})
    assert template.render_items([{"id": "a"}, {"id": "b"}], {}, {"uid": "id"}) == ["a", "b"]


def test_a_static_item_template_gives_the_same_item_for_every_user():
    template = JsonTemplate('{"type": "user"}')
    assert template.render_items([{}, {}], {}, {}) == [{"type": "user"}, {"type": "user"}]


def test_per_user_keys_are_checked_per_item():
    template = JsonTemplate('{"$a": 1, "$b": 2}', per_user={"a", "b"})
    with pytest.raises(RenderError):
        template.render_items([{"x": "k", "y": "k"}], {}, {"a": "x", "b": "y"})


def test_generated_code_holds_no_template_text():
    """Constants are passed by reference, so nothing a partner writes becomes code."""
    template = JsonTemplate('{"__import__(\'os\')": "x\\"); raise SystemExit(\\"", "n": 1}')
    assert template.render({}) == {"__import__('os')": 'x"); raise SystemExit("', "n": 1}


def test_a_missing_value_is_a_render_error():
    with pytest.raises(RenderError, match=r"\$nope has no value"):
        JsonTemplate('{"a": $nope}').render({})


def test_render_bytes_is_compact_json():
    assert JsonTemplate('{ "a" : [ 1 , 2 ] }').render_bytes({}) == b'{"a":[1,2]}'
