"""How deeply JSON may nest where it enters the platform: `MAX_JSON_DEPTH` levels.

Python's JSON decoder recurses once per level and stops with `RecursionError` somewhere
past a thousand; `copy.deepcopy` and the serializers give up sooner. No manifest, API body
or editor state needs more than a dozen levels, so every way in (the API's parser,
manifest files, the editor's state) refuses deeper JSON with the place named
(`decode_json`, `find_too_deep`), and the manifest checks report it instead of raising.
"""

from __future__ import annotations

import json
from typing import Any

from syncengine.core.diagnostic_codes import TOO_DEEP
from syncengine.core.nul import JsonPath, dotted_path
from syncengine.core.types import Diagnostic

MAX_JSON_DEPTH = 64
TOO_DEEP_MESSAGE = f"JSON must not nest objects and arrays more than {MAX_JSON_DEPTH} levels deep"


class JsonTooDeep(ValueError):
    """Decoded JSON nests deeper than the limit; `path` leads to the first level too many
    (empty when the decoder itself gave up, before any path was known)."""

    def __init__(self, path: JsonPath):
        self.path = path
        super().__init__(TOO_DEEP_MESSAGE)


def find_too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> JsonPath | None:
    """The path to the first object or array, in document order, nested more than `limit`
    levels deep (the outermost one is level 1); None when there is none. Iterative, so
    any depth is fine here."""
    pending: list[tuple[JsonPath, Any]] = [((), value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, dict):
            children: list[tuple[JsonPath, Any]] = [
                ((*path, key), child) for key, child in item.items()
            ]
        elif isinstance(item, list | tuple):
            children = [((*path, index), child) for index, child in enumerate(item)]
        else:
            continue
        if len(path) >= limit:
            return path
        pending.extend(reversed(children))
    return None


def decode_json(text: str | bytes, **options: Any) -> Any:
    """`json.loads`, refusing JSON nested deeper than `MAX_JSON_DEPTH` with `JsonTooDeep`.

    Other errors are the decoder's own (`ValueError`, `json.JSONDecodeError`)."""
    try:
        value = json.loads(text, **options)
    except RecursionError:
        raise JsonTooDeep(()) from None
    path = find_too_deep(value)
    if path is not None:
        raise JsonTooDeep(path)
    return value


def depth_diagnostic(doc: Any) -> Diagnostic | None:
    """The error for a document nested too deeply, or None."""
    path = find_too_deep(doc)
    if path is None:
        return None
    return Diagnostic("error", TOO_DEEP, TOO_DEEP_MESSAGE, dotted_path(path))
