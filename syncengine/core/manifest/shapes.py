"""Generic checks of a JSON document's shape, collected as diagnostics.

`ShapeChecker` collects `Diagnostic`s with their paths and knows the checks any JSON
document needs: required keys, types, choices, texts and unknown keys. The manifest's own
rules (`checks`) build on it. Messages describe values briefly, whatever their size.
"""

from __future__ import annotations

import json
from typing import Any, TypeGuard, TypeVar, overload

from syncengine.core.diagnostic_codes import INVALID_TYPE, INVALID_VALUE, REQUIRED, UNKNOWN_KEY
from syncengine.core.template.errors import TemplateSyntaxError
from syncengine.core.types import Diagnostic

T = TypeVar("T")


def join_path(path: str, key: str | int) -> str:
    """`key` appended to a dotted diagnostic path (`custom_fields` + 1 -> `custom_fields.1`)."""
    return f"{path}.{key}" if path else str(key)


def _describe(value: Any) -> str:
    names = {
        type(None): "null",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }
    return names.get(type(value), type(value).__name__)


def shown_value(value: Any) -> str:
    """A short rendering of a value for a message, whatever its size or depth."""
    if isinstance(value, str):
        return json.dumps(value[:40] + ("..." if len(value) > 40 else ""))
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    return _describe(value)


def is_one_of(value: Any, choices: frozenset[str] | set[str]) -> bool:
    """`value in choices` for any JSON value (a list or an object is unhashable)."""
    return isinstance(value, str) and value in choices


def is_int(value: object) -> TypeGuard[int]:
    """Whether a JSON value is a whole number (true and false are not, although Python says so)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _as_tuple(expected: type | tuple[type, ...]) -> tuple[type, ...]:
    return expected if isinstance(expected, tuple) else (expected,)


def _examples(expected: type | tuple[type, ...]) -> list[Any]:
    samples: dict[type, Any] = {str: "", bool: True, int: 0, float: 0.0, list: [], dict: {}}
    return [samples.get(kind, kind) for kind in _as_tuple(expected)]


def is_hashable(value: Any) -> bool:
    """Whether a value can be a dict key or a set member (JSON arrays and objects cannot)."""
    try:
        hash(value)
    except TypeError:
        return False
    return True


class ShapeChecker:
    """Collects the diagnostics of one document, with the checks every JSON shape needs."""

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []

    def error(
        self,
        path: str,
        code: str,
        message: str,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        """Record an error at `path` (with line and column inside a template)."""
        self.diagnostics.append(Diagnostic("error", code, message, path, line, column))

    def warning(self, path: str, code: str, message: str) -> None:
        """Record a warning at `path`: worth fixing, but it blocks nothing."""
        self.diagnostics.append(Diagnostic("warning", code, message, path))

    def template_error(self, path: str, error: TemplateSyntaxError, code: str) -> None:
        """Record a template's syntax error at the template's path, with its position."""
        self.error(path, error.code or code, error.message, error.line, error.column)

    # -- generic shapes

    def unknown_keys(self, obj: dict[Any, Any], allowed: tuple[str, ...], path: str) -> None:
        """An error for every key of `obj` that is not one of `allowed`."""
        for key in obj:
            if key not in allowed:
                expected = ", ".join(allowed)
                self.error(
                    join_path(path, str(key)), UNKNOWN_KEY, f"unknown key (expected: {expected})"
                )

    def require(self, obj: dict[str, Any], key: str, path: str) -> bool:
        """Whether `obj` has `key`; an error when it has not."""
        if key in obj:
            return True
        self.error(join_path(path, key), REQUIRED, f"{key} is required")
        return False

    @overload
    def check_type(self, value: object, expected: type[T], path: str) -> TypeGuard[T]: ...

    @overload
    def check_type(self, value: object, expected: tuple[type, ...], path: str) -> bool: ...

    def check_type(self, value: object, expected: type | tuple[type, ...], path: str) -> bool:
        """Whether `value` is of the `expected` type(s), a boolean counting as no number.

        With one type, a true answer tells the type checker what `value` is.
        """
        ok = isinstance(value, expected) and not (
            isinstance(value, bool) and bool not in _as_tuple(expected)
        )
        if not ok:
            names = " or ".join(_describe(example) for example in _examples(expected))
            self.error(path, INVALID_TYPE, f"must be {names}, not {_describe(value)}")
        return ok

    def check_text(
        self, obj: dict[str, Any], key: str, path: str, *, required: bool, max_length: int
    ) -> None:
        """Check an optional or required text field of `obj` and its length."""
        if key not in obj:
            if required:
                self.require(obj, key, path)
            return
        field_path = join_path(path, key)
        value = obj[key]
        if not self.check_type(value, str, field_path):
            return
        if required and not value.strip():
            self.error(field_path, REQUIRED, f"the {key.replace('_', ' ')} cannot be empty")
        elif len(value) > max_length:
            self.error(field_path, INVALID_VALUE, f"must be at most {max_length} characters")

    def check_choice(
        self, obj: dict[str, Any], key: str, choices: tuple[str, ...], path: str, code: str
    ) -> str | None:
        """The value of `obj[key]` if it is one of `choices`; None (and an error) if not."""
        if not self.require(obj, key, path):
            return None
        value = obj[key]
        if value in choices and isinstance(value, str):
            return value
        self.error(
            join_path(path, key),
            code,
            f"must be one of {', '.join(choices)}, not {shown_value(value)}",
        )
        return None
