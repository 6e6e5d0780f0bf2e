"""The template language of DESIGN §5, one rule per test."""

from __future__ import annotations

import json

import orjson
import pytest

from syncengine.core.slugify import MAX_SLUG_LENGTH, slugify
from syncengine.core.template import (
    MAX_TEMPLATE_DEPTH,
    HeaderTemplate,
    JsonTemplate,
    RenderError,
    TemplateSyntaxError,
    UrlTemplate,
    dumps_json,
    fix_surrogates,
    is_http_token,
    parse_json_template,
    scan_placeholders,
    value_as_text,
)


def render(template: str, **values: object) -> object:
    """Render a JSON template and decode the result, as a partner would receive it."""
    return json.loads(JsonTemplate(template).render_bytes(values))


def syntax_error(template: str) -> TemplateSyntaxError:
    with pytest.raises(TemplateSyntaxError) as caught:
        parse_json_template(template)
    return caught.value


# -- placeholders ------------------------------------------------------------------------


def test_it_finds_bare_and_braced_placeholders():
    placeholders, errors = scan_placeholders("a $one ${two}b $_3")
    assert [p.name for p in placeholders] == ["one", "two", "_3"]
    assert errors == []


def test_it_treats_double_dollar_as_a_literal_dollar():
    placeholders, _ = scan_placeholders("costs $$5 and $$name")
    assert placeholders == []
    assert HeaderTemplate("costs $$5 and $$name").render({}) == "costs $5 and $name"


def test_it_reports_a_stray_dollar_with_line_and_column():
    _, errors = scan_placeholders('{\n  "price": "$5"\n}')
    assert len(errors) == 1
    assert (errors[0].line, errors[0].column) == (2, 13)
    assert "write $$ for a literal $" in errors[0].message
    assert errors[0].code == "invalid_placeholder"


def test_it_reports_an_unclosed_brace():
    _, errors = scan_placeholders("x ${name")
    assert errors[0].message == "'${' is not closed by '}'"
    assert errors[0].column == 3


def test_it_reports_an_invalid_braced_name():
    _, errors = scan_placeholders("${1abc}")
    assert "'1abc' is not a variable name" in errors[0].message


def test_a_braced_placeholder_can_be_followed_by_name_characters():
    assert HeaderTemplate("${a}b").render({"a": "X"}) == "Xb"
    assert [p.name for p in HeaderTemplate("$ab").placeholders] == ["ab"]


# -- JSON: typed values ----------------------------------------------------------------


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


def test_keys_interpolate_as_text():
    assert render('{"attr_$name": 1, "$n": 2}', name="plan", n=5) == {"attr_plan": 1, "5": 2}


def test_it_refuses_interpolated_keys_that_collide():
    with pytest.raises(RenderError, match="same text"):
        JsonTemplate('{"$a": 1, "$b": 2}').render({"a": "x", "b": "x"})


def test_it_keeps_literal_json_as_written():
    template = '{"a": [1, -2.5e3, true, false, null, "t\\u00e9\\n"], "b": {}}'
    assert render(template) == json.loads(template)


def test_it_decodes_surrogate_pair_escapes_and_replaces_lone_ones():
    assert render('"\\ud83d\\ude00"') == "😀"
    assert render('"\\ud800x"') == "\ufffdx"


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


def test_it_replaces_lone_surrogates_in_values_with_the_replacement_character():
    assert render('{"a": $v, "b": "x$v"}', v="a\ud800b") == {"a": "a\ufffdb", "b": "xa\ufffdb"}


def test_it_encodes_integers_beyond_64_bits():
    assert dumps_json({"n": 2**70}) == b'{"n":1180591620717411303424}'


def test_it_turns_non_finite_numbers_into_null_in_the_fallback_path():
    assert json.loads(dumps_json([float("nan"), "\ud800"])) == [None, "\ufffd"]


def test_it_refuses_values_that_are_not_json():
    with pytest.raises(RenderError, match="type object"):
        dumps_json(["\ud800", object()])


def test_a_five_megabyte_value_renders():
    big = "x" * 5_000_000
    assert render('{"v": "[$v]"}', v=big) == {"v": f"[{big}]"}


# -- JSON: syntax errors ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "message", "line", "column"),
    [
        ('{"a": 1 "b": 2}', "expected ',' or '}' after object member, found '\"'", 1, 9),
        ("[1 2]", "expected ',' or ']' after array element, found '2'", 1, 4),
        ('{"a" 1}', "expected ':' after object key, found '1'", 1, 6),
        ('{"a": 1,}', "expected a key after ',' (JSON allows no trailing comma)", 1, 9),
        ("[1,]", "expected a value after ',' (JSON allows no trailing comma)", 1, 4),
        (
            '{"a": }',
            "expected a JSON value (object, array, string, number, true, false, "
            "null or a $placeholder), found '}'",
            1,
            7,
        ),
        ('{\n  "a": "x', "this string is not closed by '\"'", 2, 8),
        ('{"a": 1}\n  x', "unexpected 'x' after the end of the JSON value", 2, 3),
        ("{a: 1}", "expected a string key in double quotes, found 'a'", 1, 2),
        ("{$k: 1}", 'an object key must be a string: write "$name" in quotes', 1, 2),
        ("['a']", 'JSON strings use double quotes ("), not single quotes', 1, 2),
        ("True", "'True' is not JSON; write true", 1, 1),
        ("[01]", "numbers cannot have leading zeros", 1, 2),
        ("[1.]", "invalid number '1.'", 1, 2),
        ('"\\x"', "invalid escape '\\x': JSON allows", 1, 2),
        ('"\\u12"', "'\\u' must be followed by four hexadecimal digits", 1, 2),
        ('"a\nb"', "strings cannot span lines; write \\n for a line break", 1, 3),
        ('"a\tb"', "control character U+0009 in a string", 1, 3),
        ('{"a": 1, "a": 2}', "duplicate key 'a'", 1, 10),
        ("  ", "the template is empty: expected a JSON value", 1, 3),
        ("[1e999]", "the number 1e999 is too large", 1, 2),
        ("items", "unexpected word 'items': a variable is written $items", 1, 1),
        ("$$", "'$$' is a literal '$' and only makes sense inside a string", 1, 1),
    ],
)
def test_it_reports_invalid_json_with_a_specific_message(template, message, line, column):
    error = syntax_error(template)
    assert error.message.startswith(message)
    assert (error.line, error.column) == (line, column)


def test_it_limits_nesting():
    deep = "[" * (MAX_TEMPLATE_DEPTH + 2) + "]" * (MAX_TEMPLATE_DEPTH + 2)
    assert "nested more than" in syntax_error(deep).message


def test_a_template_at_the_nesting_limit_compiles_and_renders():
    depth = MAX_TEMPLATE_DEPTH
    template = '{"k": ' * depth + '"$x"' + "}" * depth
    value = JsonTemplate(template).render({"x": 1})
    for _ in range(depth):
        value = value["k"]
    assert value == 1


# -- JSON: item templates --------------------------------------------------------------


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


# -- text ------------------------------------------------------------------------------


def test_value_as_text_keeps_strings_raw():
    assert value_as_text('a"b\\c') == 'a"b\\c'
    assert value_as_text(12) == "12"


def test_fix_surrogates_keeps_valid_text_and_pairs():
    assert fix_surrogates("héllo 😀") == "héllo 😀"
    assert fix_surrogates("\ud83d\ude00") == "😀"
    assert fix_surrogates("a\udc00") == "a\ufffd"


# -- headers ---------------------------------------------------------------------------


def test_header_values_are_text():
    assert HeaderTemplate("Klaviyo-API-Key $key").render({"key": "pk_1"}) == "Klaviyo-API-Key pk_1"
    assert HeaderTemplate("v=$n").render({"n": 2}) == "v=2"


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "a\rb"])
def test_it_refuses_header_values_with_line_breaks(value):
    with pytest.raises(RenderError, match="line break"):
        HeaderTemplate("x $v").render({"v": value})


def test_it_refuses_header_values_with_other_control_characters_or_non_ascii():
    with pytest.raises(RenderError, match="U\\+0000"):
        HeaderTemplate("$v").render({"v": "a\x00"})
    with pytest.raises(RenderError, match="must be ASCII"):
        HeaderTemplate("$v").render({"v": "café"})


def test_a_header_template_cannot_contain_a_line_break():
    with pytest.raises(TemplateSyntaxError) as caught:
        HeaderTemplate("a\nb")
    assert (caught.value.line, caught.value.column) == (1, 2)


@pytest.mark.parametrize(
    ("name", "valid"),
    [("X-API-Key", True), ("Content-Type", True), ("X Key", False), ("X:Y", False), ("", False)],
)
def test_header_names_must_be_http_tokens(name, valid):
    assert is_http_token(name) is valid


# -- URLs ------------------------------------------------------------------------------


def test_a_path_value_cannot_add_a_segment_a_query_or_a_fragment():
    url = UrlTemplate("https://api.acme.test/lists/$id/add").render({"id": "a/b?c=1#d"})
    assert url == "https://api.acme.test/lists/a%2Fb%3Fc%3D1%23d/add"


def test_a_query_value_cannot_add_a_parameter():
    url = UrlTemplate("https://api.acme.test/x?list=$id&v=1").render({"id": "1&admin=true#x"})
    assert url == "https://api.acme.test/x?list=1%26admin%3Dtrue%23x&v=1"


def test_a_fragment_value_is_encoded_too():
    url = UrlTemplate("https://api.acme.test/x#$f").render({"f": "a#b c"})
    assert url == "https://api.acme.test/x#a%23b%20c"


def test_a_url_value_is_utf8_percent_encoded():
    assert UrlTemplate("https://a.test/$n").render({"n": "héllo wörld"}) == (
        "https://a.test/h%C3%A9llo%20w%C3%B6rld"
    )


def test_a_placeholder_in_the_host_accepts_a_host_name_fragment():
    template = UrlTemplate("https://$region.api.acme.test:8443/v1")
    assert template.render({"region": "eu-1"}) == "https://eu-1.api.acme.test:8443/v1"


@pytest.mark.parametrize("value", ["evil.test/", "a@b", "x:1", "a b", "evil.test#"])
def test_a_placeholder_in_the_host_refuses_anything_else(value):
    with pytest.raises(RenderError, match="host name"):
        UrlTemplate("https://$sub.acme.test/").render({"sub": value})


def test_a_host_value_must_leave_a_valid_host():
    with pytest.raises(RenderError, match="invalid host name"):
        UrlTemplate("https://$sub.acme.test/").render({"sub": ""})


def test_a_placeholder_cannot_set_the_scheme():
    with pytest.raises(TemplateSyntaxError, match="cannot set the URL scheme"):
        UrlTemplate("$base/lists")


@pytest.mark.parametrize(
    ("template", "message", "column"),
    [
        ("ftp://a.test/", "must start with https:// or http://", 1),
        ("https://", "the URL has no host", 9),
        ("https:///x", "the URL has no host", 9),
        ("https://user:$pw@a.test/", "user:password@", 17),
        ("https://a.test/a b", "cannot contain spaces", 17),
        ("", "the URL is empty", 1),
    ],
)
def test_it_reports_bad_urls(template, message, column):
    with pytest.raises(TemplateSyntaxError) as caught:
        UrlTemplate(template)
    assert message in caught.value.message
    assert caught.value.column == column
    assert caught.value.code == "invalid_url"


def test_the_rendered_url_must_be_valid():
    with pytest.raises(RenderError, match="not valid"):
        UrlTemplate("https://a.test:99999/").render({})


def test_http_urls_and_ip_hosts_are_allowed():
    assert UrlTemplate("http://127.0.0.1:8000/$p").render({"p": "x"}) == "http://127.0.0.1:8000/x"


# -- slugify ---------------------------------------------------------------------------


def test_slugify_follows_the_documented_example():
    assert slugify("Saturday's cohort & héllo") == "Saturday-s-cohort-he-llo"


def test_slugify_collapses_runs_and_cuts_to_the_limit():
    assert slugify("a  --  b") == "a-b"
    assert slugify("é" * 300) == "e-" * (MAX_SLUG_LENGTH // 2)
    assert len(slugify("x" * 500)) == MAX_SLUG_LENGTH


def test_slugify_keeps_underscores_and_digits():
    assert slugify("power_users_2024") == "power_users_2024"


def test_orjson_is_the_serialiser():
    """The fast path is one orjson.dumps of the whole payload (same bytes)."""
    value = {"a": [1, "é", None]}
    assert dumps_json(value) == orjson.dumps(value)


def test_an_absurdly_long_number_is_a_diagnostic_not_a_crash():
    from syncengine.core.manifest import check_manifest

    doc = {
        "display_name": "x",
        "integration_type": "list",
        "endpoints": {"create_list": {"url": "https://x.test", "payload": "9" * 5000}},
    }
    problems = [d for d in check_manifest(doc) if d.path == "endpoints.create_list.payload"]
    assert any("more than 4000 digits" in d.message for d in problems)
