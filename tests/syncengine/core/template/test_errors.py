"""Where a template error is, and what its message says."""

from __future__ import annotations

from syncengine.core.template.errors import (
    LineIndex,
    RenderError,
    TemplateSyntaxError,
    text_position,
)

TEXT = 'first line\n{\n  "a": $x\n}'


def test_the_line_index_agrees_with_counting_from_the_start():
    lines = LineIndex(TEXT)
    for offset in range(len(TEXT) + 1):
        assert lines.position(offset) == text_position(TEXT, offset)


def test_a_syntax_error_names_its_line_and_column():
    error = TemplateSyntaxError("unexpected '$'", TEXT, TEXT.index("$"))
    assert (error.line, error.column) == (3, 8)
    assert str(error) == "unexpected '$' (line 3, column 8)"
    assert error.code == "invalid_json"


def test_a_render_error_keeps_the_first_location_it_is_given():
    located = RenderError("$x has no value here").at("endpoints.add_users.url")
    assert str(located) == "endpoints.add_users.url: $x has no value here"
    assert located.at("endpoints.remove_users.url") is located
