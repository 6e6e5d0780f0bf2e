"""How rendered values read as text and become JSON.

A value inserted into text (a header, a URL, a longer JSON string) reads as its JSON text
unless it is a string. A rendered JSON document is serialised by one `orjson.dumps`, with
a careful fallback for what orjson refuses.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import orjson

from syncengine.core.template.errors import RenderError

# orjson refuses values nested deeper than 254 levels; the fallback encoder stops here.
MAX_VALUE_DEPTH = 250


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
