"""Property tests: hostile values never change a template's structure."""

from __future__ import annotations

import json
from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from syncengine.core.template.errors import RenderError, TemplateSyntaxError
from syncengine.core.template.json_codegen import JsonTemplate
from syncengine.core.template.json_parser import parse_json_template
from syncengine.core.template.text import HeaderTemplate, UrlTemplate
from syncengine.core.template.values import fix_surrogates

# Any Python text, lone surrogates included, with JSON/template metacharacters favoured.
HOSTILE_CHARACTERS = st.sampled_from([*'"\\{}[]:,$\n\r\t\x00\u2028\ud800\udfff😀', "$x"])
hostile_text = st.lists(st.one_of(st.text(), HOSTILE_CHARACTERS), max_size=20).map("".join)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    hostile_text,
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(hostile_text, children, max_size=4),
    ),
    max_leaves=12,
)


def cleaned(value):
    """What a value looks like after the JSON round trip (lone surrogates replaced)."""
    if isinstance(value, str):
        return fix_surrogates(value)
    if isinstance(value, list):
        return [cleaned(item) for item in value]
    if isinstance(value, dict):
        return {fix_surrogates(key): cleaned(item) for key, item in value.items()}
    return value


PAYLOAD = JsonTemplate(
    '{"typed": $v, "whole": "$v", "text": "[${v}] $$v", "$k": [$v, {"n": 1}], "fixed": true}'
)


@settings(max_examples=300, deadline=None)
@given(v=json_values, k=hostile_text)
def test_output_is_valid_json_with_the_templates_structure(v, k):
    assume(fix_surrogates(k) not in {"typed", "whole", "text", "fixed"})
    rendered = json.loads(PAYLOAD.render_bytes({"v": v, "k": k}))
    assert list(rendered) == ["typed", "whole", "text", fix_surrogates(k), "fixed"]
    assert rendered["typed"] == cleaned(v)
    assert rendered["whole"] == cleaned(v)
    assert rendered[fix_surrogates(k)] == [cleaned(v), {"n": 1}]
    assert rendered["fixed"] is True


@settings(max_examples=300, deadline=None)
@given(v=hostile_text)
def test_text_interpolation_is_exact_and_never_re_expanded(v):
    rendered = json.loads(PAYLOAD.render_bytes({"v": v, "k": "key"}))
    assert rendered["text"] == f"[{fix_surrogates(v)}] $v"


@settings(max_examples=200, deadline=None)
@given(users=st.lists(st.dictionaries(st.sampled_from(["id", "email"]), json_values), max_size=5))
def test_item_templates_keep_their_structure_for_any_user(users):
    template = JsonTemplate('{"id": "$uid", "label": "u:$uid", "email": $mail}', {"uid", "mail"})
    items = template.render_items(users, {}, {"uid": "id", "mail": "email"})
    decoded = json.loads(JsonTemplate('{"items": $items}').render_bytes({"items": items}))
    assert len(decoded["items"]) == len(users)
    for item, user in zip(decoded["items"], users, strict=True):
        assert list(item) == ["id", "label", "email"]
        assert item["id"] == cleaned(user.get("id"))
        assert item["email"] == cleaned(user.get("email"))


@settings(max_examples=300, deadline=None)
@given(value=json_values)
def test_any_json_without_placeholders_round_trips(value):
    """Literal JSON (with `$` written as `$$`) renders to exactly the same value."""

    def escape(item):
        if isinstance(item, str):
            return fix_surrogates(item).replace("$", "$$")
        if isinstance(item, list):
            return [escape(x) for x in item]
        if isinstance(item, dict):
            escaped = {escape(k): escape(x) for k, x in item.items()}
            assume(len(escaped) == len(item))  # two keys that differ only by a lone surrogate
            return escaped
        return item

    source = json.dumps(escape(value))
    try:
        template = JsonTemplate(source)
    except TemplateSyntaxError as error:
        pytest.fail(f"valid JSON refused: {error}")
    assert json.loads(template.render_bytes({})) == cleaned(value)


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_the_parser_only_ever_raises_syntax_errors(text):
    try:
        parse_json_template(text)
    except TemplateSyntaxError as error:
        assert error.line >= 1
        assert error.column >= 1


@settings(max_examples=300, deadline=None)
@given(v=hostile_text)
def test_a_path_value_is_exactly_one_segment(v):
    url = UrlTemplate("https://api.acme.test/lists/$v/add?x=1").render({"v": v})
    parts = urlsplit(url)
    segments = parts.path.split("/")
    assert segments[:2] == ["", "lists"]
    assert len(segments) == 4
    assert segments[3] == "add"
    assert unquote(segments[2]) == fix_surrogates(v)
    assert parts.query == "x=1"
    assert parts.fragment == ""


@settings(max_examples=300, deadline=None)
@given(v=hostile_text, w=hostile_text)
def test_query_values_are_exactly_one_parameter_each(v, w):
    url = UrlTemplate("https://api.acme.test/x?a=$v&b=$w#top").render({"v": v, "w": w})
    parts = urlsplit(url)
    pairs = [pair.split("=") for pair in parts.query.split("&")]
    assert [pair[0] for pair in pairs] == ["a", "b"]
    assert all(len(pair) == 2 for pair in pairs)
    assert unquote(pairs[0][1]) == fix_surrogates(v)
    assert unquote(pairs[1][1]) == fix_surrogates(w)
    assert parts.fragment == "top"


@settings(max_examples=300, deadline=None)
@given(v=hostile_text)
def test_a_header_value_is_refused_or_a_single_line(v):
    """Either the value is refused (line break, control or non-ASCII character) or the
    header is exactly the text, on one line."""
    try:
        rendered = HeaderTemplate("prefix $v").render({"v": v})
    except RenderError:
        assert any(not (" " <= c <= "~" or c == "\t") for c in fix_surrogates(v))
    else:
        assert "\r" not in rendered
        assert "\n" not in rendered
        assert rendered == f"prefix {v}"


@settings(max_examples=200, deadline=None)
@given(a=hostile_text, b=hostile_text)
def test_interpolated_keys_never_merge_silently(a, b):
    """Two members stay two members, or rendering is refused."""
    try:
        rendered = json.loads(JsonTemplate('{"$a": 1, "$b": 2}').render_bytes({"a": a, "b": b}))
    except RenderError:
        assert fix_surrogates(a) == fix_surrogates(b)
    else:
        assert sorted(rendered.values()) == [1, 2]


def test_keys_equal_once_sent_are_refused():
    """A lone surrogate is sent as U+FFFD, so it collides with a real U+FFFD key."""
    with pytest.raises(RenderError):
        JsonTemplate('{"$a": 1, "$b": 2}').render_bytes({"a": "\ud800", "b": "\ufffd"})
    with pytest.raises(RenderError):
        JsonTemplate('{"$a": 1, "\ufffd": 2}').render_bytes({"a": "\udfff"})
