"""Placeholders of every kind of template: `$name`, `${name}` and `$$`."""

from __future__ import annotations

from syncengine.core.template.placeholders import scan_placeholders
from syncengine.core.template.text import HeaderTemplate


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
