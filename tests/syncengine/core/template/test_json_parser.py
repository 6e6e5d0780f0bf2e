"""The parser of JSON with placeholders: what it accepts and how it reports errors."""

from __future__ import annotations

import json

import pytest

from syncengine.core.template.errors import TemplateSyntaxError
from syncengine.core.template.json_codegen import JsonTemplate
from syncengine.core.template.json_parser import MAX_TEMPLATE_DEPTH, parse_json_template


def render(template: str, **values: object) -> object:
    """Render a JSON template and decode the result, as a partner would receive it."""
    return json.loads(JsonTemplate(template).render_bytes(values))


def syntax_error(template: str) -> TemplateSyntaxError:
    with pytest.raises(TemplateSyntaxError) as caught:
        parse_json_template(template)
    return caught.value


def test_it_keeps_literal_json_as_written():
    template = '{"a": [1, -2.5e3, true, false, null, "t\\u00e9\\n"], "b": {}}'
    assert render(template) == json.loads(template)


def test_it_decodes_surrogate_pair_escapes_and_replaces_lone_ones():
    assert render('"\\ud83d\\ude00"') == "😀"
    assert render('"\\ud800x"') == "\ufffdx"


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
