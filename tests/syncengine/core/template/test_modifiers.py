"""Placeholder modifiers (`${name:number}`), missing-value policies and omission."""

from __future__ import annotations

import json
from urllib.parse import unquote, urlsplit

import pytest

from syncengine.core.template.errors import ConversionError, RenderError, TemplateSyntaxError
from syncengine.core.template.json_codegen import JsonTemplate
from syncengine.core.template.placeholders import Modifier, parse_text, read_placeholder
from syncengine.core.template.text import HeaderTemplate, UrlTemplate
from syncengine.core.template.values import OMITTED, convert, text_of


def render(template: str, **values: object) -> object:
    return json.loads(JsonTemplate(template).render_bytes(values))


def omit_when_missing(value: object) -> object:
    return OMITTED if value in (None, "") else value


# --- reading modifiers -------------------------------------------------------------------


def test_a_braced_placeholder_may_carry_a_modifier():
    assert read_placeholder("${n:number}", 0) == ("n", Modifier("number"), 11)
    assert read_placeholder("${ids:join(,)}x", 0) == ("ids", Modifier("join", ","), 14)
    assert read_placeholder("${n}", 0) == ("n", None, 4)


def test_an_unknown_modifier_is_a_syntax_error_with_its_place():
    with pytest.raises(TemplateSyntaxError, match="unknown modifier 'integer'") as caught:
        parse_text("ab ${n:integer}")
    assert (caught.value.line, caught.value.column) == (1, 4)


@pytest.mark.parametrize(
    "text, message",
    [
        ("${ids:join()}", "needs a separator"),
        ("${n:json(,)}", "takes no argument"),
        ("${ids:join(a$b)}", "must be 1 to 10 printable ASCII"),
        ("${ids:join(abcdefghijk)}", "must be 1 to 10"),
    ],
)
def test_bad_modifier_arguments_are_refused(text, message):
    with pytest.raises(TemplateSyntaxError, match=message):
        parse_text(text)


def test_a_bare_placeholder_followed_by_a_colon_is_text():
    assert [str(p) if isinstance(p, str) else p.name for p in parse_text("$n:number")] == [
        "n",
        ":number",
    ]


# --- converting values -------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, kind, expected",
    [
        (True, "string", "true"),
        (12, "string", "12"),
        ("12", "number", 12),
        (" 4.5 ", "number", 4.5),
        ("-0", "number", 0),
        (7, "number", 7),
        ("true", "boolean", True),
        ("FALSE", "boolean", False),
        (1, "boolean", True),
        ("0", "boolean", False),
        ("a:b", "base64", "YTpi"),
        (None, "number", None),
    ],
)
def test_typed_conversions(value, kind, expected):
    assert convert(value, kind) == expected


@pytest.mark.parametrize(
    "value, kind",
    [("twelve", "number"), (True, "number"), ("NaN", "number"), ("yes", "boolean"), (2, "boolean")],
)
def test_values_that_cannot_take_the_type_are_refused(value, kind):
    with pytest.raises(ConversionError):
        convert(value, kind)


def test_json_in_text_quotes_strings():
    assert text_of(["a", 'b"c'], "json") == '["a","b\\"c"]'
    assert text_of("x", "json") == '"x"'


def test_a_missing_value_stays_missing_whatever_the_modifier():
    assert convert(OMITTED, "string") is OMITTED
    assert convert(None, "string") is None


# --- in JSON templates -------------------------------------------------------------------


def test_a_modifier_forces_the_json_type_of_a_whole_string_placeholder():
    rendered = render('{"member": "${on:string}", "seats": "${n:number}"}', on=True, n="3")
    assert rendered == {"member": "true", "seats": 3}
    # Without a modifier the whole-string placeholder is typed, as in version 1.
    assert render('{"member": "$in"}', **{"in": True}) == {"member": True}


def test_modifiers_inside_longer_text():
    assert render('{"q": "in ${ids:join(|)}: ${ids:json}"}', ids=["a", 1]) == {
        "q": 'in a|1: ["a",1]'
    }


def test_a_batch_value_that_cannot_take_the_type_is_a_render_error():
    with pytest.raises(ConversionError, match="not a number"):
        JsonTemplate('{"n": "${n:number}"}').render({"n": "many"})


def test_per_user_values_are_converted_per_use():
    template = JsonTemplate('{"s": "${v:string}", "t": $v, "x": "v=${v:number}"}', per_user={"v"})
    assert template.render_items([{"p": "5"}], {}, {"v": "p"}) == [{"s": "5", "t": "5", "x": "v=5"}]


def test_a_missing_policy_replaces_a_missing_per_user_value():
    template = JsonTemplate(
        '{"plan": $plan}', per_user={"plan"}, missing={"plan": lambda v: v or "free"}
    )
    assert template.render_items([{}, {"p": "pro"}], {}, {"plan": "p"}) == [
        {"plan": "free"},
        {"plan": "pro"},
    ]


def test_omitted_values_drop_their_member_element_and_text():
    template = JsonTemplate(
        '{"id": "$id", "plan": "$plan", "label": "plan $plan", "tags": ["a", $plan], '
        '"nested": {"p": "${plan:string}"}}',
        per_user={"id", "plan"},
        missing={"plan": omit_when_missing},
        omittable={"plan"},
    )
    users = [{"id": "1"}, {"id": "2", "p": ""}, {"id": "3", "p": 9}]
    assert template.render_items(users, {}, {"id": "id", "plan": "p"}) == [
        {"id": "1", "tags": ["a"], "nested": {}},
        {"id": "2", "tags": ["a"], "nested": {}},
        {"id": "3", "plan": 9, "label": "plan 9", "tags": ["a", 9], "nested": {"p": "9"}},
    ]


def test_an_omitted_key_drops_its_member():
    template = JsonTemplate(
        '{"k_$plan": 1, "id": 2}',
        per_user={"plan"},
        missing={"plan": omit_when_missing},
        omittable={"plan"},
    )
    assert template.render_items([{}], {}, {"plan": "p"}) == [{"id": 2}]


def test_a_template_that_is_only_an_omitted_value_says_so():
    template = JsonTemplate('"$plan"', per_user={"plan"}, omittable={"plan"})
    assert template.root_may_omit
    assert JsonTemplate('{"a": "$plan"}', per_user={"plan"}, omittable={"plan"}).root_may_omit is (
        False
    )
    with pytest.raises(RenderError, match="left out"):
        JsonTemplate('"$region"', omittable={"region"}).render({"region": OMITTED})


def test_a_batch_value_left_out_drops_its_member():
    template = JsonTemplate(
        '{"region": "$region", "all": "r=$region", "n": 1}', omittable={"region"}
    )
    assert template.render({"region": OMITTED}) == {"n": 1}
    assert template.render({"region": "eu"}) == {"region": "eu", "all": "r=eu", "n": 1}


def test_templates_without_version_two_constructs_compile_as_before():
    """No helper of omission or conversion appears in a version-1 template's code."""
    template = JsonTemplate('{"id": "$uid", "label": "u:$uid", "n": 1}', per_user={"uid"})
    assert template.render_items([{"u": "a"}], {}, {"uid": "u"}) == [
        {"id": "a", "label": "u:a", "n": 1}
    ]
    assert not template.root_may_omit


# --- in URLs and headers -----------------------------------------------------------------


def test_a_list_joins_into_a_query_parameter_item_by_item():
    url = UrlTemplate("https://api.test/v3/contacts?ids=${items:join(,)}&x=1").render(
        {"items": ["a,b", "c&d=e", "f/g%", "ü"]}
    )
    assert url == "https://api.test/v3/contacts?ids=a%2Cb,c%26d%3De,f/g%25,%C3%BC&x=1"
    raw = dict(pair.split("=", 1) for pair in urlsplit(url).query.split("&"))
    assert [unquote(item) for item in raw["ids"].split(",")] == ["a,b", "c&d=e", "f/g%", "ü"]


def test_a_list_joins_into_a_path_segment_without_adding_segments():
    url = UrlTemplate("https://api.test/users/${ids:join(;)}/tags").render({"ids": ["a/b", "c;d"]})
    assert url == "https://api.test/users/a%2Fb;c%3Bd/tags"


def test_a_url_separator_must_not_end_a_part():
    with pytest.raises(TemplateSyntaxError, match="cannot contain '&'"):
        UrlTemplate("https://api.test/x?ids=${items:join(&)}")
    with pytest.raises(TemplateSyntaxError, match="host name"):
        UrlTemplate("https://${region:json}.api.test/x")


def test_json_in_a_url_is_encoded_for_its_part():
    url = UrlTemplate("https://api.test/p?filter=any(email,${items:json})").render(
        {"items": ['a"b@x.test', "c@y.test"]}
    )
    assert url == (
        "https://api.test/p?filter=any(email,%5B%22a%5C%22b@x.test%22%2C%22c@y.test%22%5D)"
    )


def test_base64_in_a_header():
    assert HeaderTemplate("Basic ${token:base64}").render({"token": "user:pass"}) == (
        "Basic dXNlcjpwYXNz"
    )


def test_a_header_with_an_omitted_value_says_so():
    header = HeaderTemplate("v=$region")
    assert header.omitted({"region": OMITTED})
    with pytest.raises(RenderError):
        header.render({"region": OMITTED})
