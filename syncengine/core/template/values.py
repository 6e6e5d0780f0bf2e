"""How rendered values read as text and become JSON, and what modifiers make of them.

A value inserted into text (a header, a URL, a longer JSON string) reads as its JSON text
unless it is a string. A rendered JSON document is serialised by one `orjson.dumps`, with
a careful fallback for what orjson refuses.

A placeholder's modifier (`${name:number}`, see `placeholders`) converts the value where
it stands: `convert` for a JSON value position, `text_of` for text. `OMITTED` stands for a
value whose field says "omit the key when missing"; conversions pass it through and the
generated JSON code drops the member or element that holds it.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Mapping
from typing import Any, Final

import orjson

from syncengine.core.template.errors import ConversionError, RenderError

# orjson refuses values nested deeper than 254 levels; the fallback encoder stops here.
MAX_VALUE_DEPTH = 250
# The JSON number grammar: what `${name:number}` accepts from text.
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_NUMBER_TEXT_LIMIT = 100
_BOOLEAN_TEXTS = {"true": True, "false": False, "1": True, "0": False}


class _Omitted:
    """The one value that means "leave this member out" (see the module docstring)."""

    _instance: _Omitted | None = None

    def __new__(cls) -> _Omitted:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "OMITTED"


OMITTED: Final = _Omitted()


def fix_surrogates(text: str) -> str:
    """Replace lone surrogates (which no UTF-8 encoder accepts) with U+FFFD.

    A properly paired surrogate pair becomes the character it encodes.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def value_as_text(value: Any) -> str:
    """How a value reads when interpolated into text.

    Strings as they are; numbers, booleans and null as their JSON text (`true`, `null`);
    arrays and objects as compact JSON.
    """
    if value.__class__ is str:
        return value
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return str(value)
    return dumps_json(value).decode()


def dumps_json(value: Any) -> bytes:
    """Serialise a rendered value to compact UTF-8 JSON.

    The fast path is one `orjson.dumps`. orjson refuses lone surrogates, integers beyond 64
    bits and very deep nesting; only then is the value cleaned (surrogates replaced,
    non-finite floats made null) and written by the standard library encoder.
    """
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        pass
    cleaned = _clean_for_json(value, 0)
    return json.dumps(cleaned, ensure_ascii=False, separators=(",", ":")).encode()


def _clean_for_json(value: Any, depth: int) -> Any:
    if depth > MAX_VALUE_DEPTH:
        raise RenderError(f"a value is nested more than {MAX_VALUE_DEPTH} levels deep")
    if isinstance(value, str):
        return fix_surrogates(str(value))
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list | tuple):
        return [_clean_for_json(item, depth + 1) for item in value]
    if isinstance(value, dict):
        # Keys that only differ by lone surrogates become equal once made valid text; the
        # later one wins, as in a JSON document that repeats a key, so the output stays
        # valid whatever the value holds.
        return {
            fix_surrogates(value_as_text(key)): _clean_for_json(item, depth + 1)
            for key, item in value.items()
        }
    raise RenderError(f"a value of type {type(value).__name__} cannot be sent as JSON")


def value_of(values: Mapping[str, Any], name: str) -> Any:
    """The value of variable `name`, or `RenderError` saying it has none here."""
    try:
        return values[name]
    except KeyError:
        raise RenderError(f"${name} has no value here") from None


def describe_value(value: Any) -> str:
    """A short, safe rendering of a value for a message."""
    text = value_as_text(value) if not isinstance(value, _Omitted) else "nothing"
    return repr(text[:40] + ("…" if len(text) > 40 else ""))


def _as_number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise ConversionError(f"{describe_value(value)} is a boolean, not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConversionError(f"{describe_value(value)} is not a finite number")
        return value
    if isinstance(value, str):
        text = value.strip()
        if len(text) <= _NUMBER_TEXT_LIMIT and _JSON_NUMBER.fullmatch(text):
            if text.lstrip("-").isdigit():
                return int(text)
            number = float(text)
            if math.isfinite(number):
                return number
    raise ConversionError(f"{describe_value(value)} is not a number")


def _as_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _BOOLEAN_TEXTS:
        return _BOOLEAN_TEXTS[value.strip().lower()]
    raise ConversionError(f"{describe_value(value)} is not a boolean (true or false)")


def _joined(value: Any, separator: str) -> str:
    if isinstance(value, list | tuple):
        return separator.join(value_as_text(item) for item in value)
    return value_as_text(value)


def convert(value: Any, kind: str, separator: str = "") -> Any:
    """`value` as a modifier writes it in a JSON value position.

    null and `OMITTED` stay as they are: what a missing value becomes is the field's
    choice (`if_missing`), not the modifier's. Raises `ConversionError` when the value
    cannot be the type asked for.
    """
    if value is None or value is OMITTED:
        return value
    if kind == "string":
        return value_as_text(value)
    if kind == "number":
        return _as_number(value)
    if kind == "boolean":
        return _as_boolean(value)
    if kind == "base64":
        return base64.b64encode(fix_surrogates(value_as_text(value)).encode()).decode()
    if kind == "join":
        return _joined(value, separator)
    return value


def text_of(value: Any, kind: str, separator: str = "") -> str:
    """`value` as a modifier writes it inside text (a header, a URL, a longer string)."""
    if kind == "json":
        return dumps_json(value).decode()
    if value is None:
        return value_as_text(value)
    if kind == "number":
        return value_as_text(_as_number(value))
    if kind == "boolean":
        return value_as_text(_as_boolean(value))
    return str(convert(value, kind, separator))


def conversion_problem(value: Any, kind: str) -> str | None:
    """Why `value` cannot take modifier `kind`, or None when it can."""
    try:
        convert(value, kind)
    except ConversionError as error:
        return error.message
    return None
