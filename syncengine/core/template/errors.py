"""The two ways a template fails, and where in its text.

`TemplateSyntaxError`: the template cannot be parsed (with a 1-based line and column).
`RenderError`: it parsed, but cannot be rendered with the values at hand.
"""

from __future__ import annotations

import bisect
import re

from syncengine.core.diagnostic_codes import INVALID_JSON


def text_position(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of `offset` in `text`, counting code points."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


class LineIndex:
    """1-based (line, column) of offsets in one text, in O(log n) per lookup.

    A template can hold thousands of placeholders; counting newlines from the start for
    each of them would make validation quadratic in the template's size.
    """

    def __init__(self, text: str):
        self.line_starts = [0] + [match.end() for match in re.finditer("\n", text)]

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.line_starts, offset)
        return line, offset - self.line_starts[line - 1] + 1


class TemplateSyntaxError(ValueError):
    """A template that cannot be parsed; `line` and `column` are 1-based.

    `code` is the diagnostic code: invalid_placeholder, invalid_json, invalid_url or
    invalid_header_value.
    """

    def __init__(self, message: str, text: str, offset: int, code: str = INVALID_JSON):
        self.message = message
        self.offset = offset
        self.code = code
        self._text = text
        super().__init__(message)

    @property
    def line(self) -> int:
        return text_position(self._text, self.offset)[0]

    @property
    def column(self) -> int:
        return text_position(self._text, self.offset)[1]

    def __str__(self) -> str:
        # Computed on demand: a best-effort scan may create many errors nobody reads.
        line, column = text_position(self._text, self.offset)
        return f"{self.message} (line {line}, column {column})"


class RenderError(Exception):
    """A template that parsed but cannot be rendered with the values at hand.

    `path` is the manifest path of the template (`endpoints.add_users.url`), filled in by
    the compiler, so the message can point at the field to fix.
    """

    def __init__(self, message: str, path: str = ""):
        self.message = message
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)

    def at(self, path: str) -> RenderError:
        """The same error located at `path`, unless it already has a location."""
        return self if self.path else RenderError(self.message, path)


class ConversionError(RenderError):
    """A value that cannot be written as the type its placeholder asks for.

    `${plan_seats:number}` with the value "many", say. For a user's own value this makes
    the user skipped (with this message as the reason); for a Connect-modal value it is a
    render error of the request.
    """
