"""Rendered page fragments kept per process, by a key of everything they show.

A page template marks a part that depends only on data (never on the request: no CSRF
token, no nonce, no user) with

    {% call cached_fragment("editor-form", fragment_key) %} ... {% endcall %}

The first render of a key renders the body and keeps the HTML; later renders with the same
key put the kept HTML in without running the body. The view computes `fragment_key` from
what the fragments show (`fragment_key(...)`: a hash of those values) and passes whatever
the bodies read as `Deferred` values, which are computed only when a body runs. A key of
None renders the body every time. A template may also key a block by the data it shows,
`fragment_key_of(...)`. The editor's Testing panel keys each section so
(`integrations.editor.panel.section_keys`, in Python, because the editor is told the keys
too), so that a preview after an edit renders, and sends, only the sections it changed.

The last `FRAGMENTS` fragments are kept, per process (each gunicorn worker its own). With
DEBUG on, the key also carries the templates' modification times, so that an edited
template shows without a restart.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
from django.conf import settings
from markupsafe import Markup

from syncengine.core.kept import Kept

FRAGMENTS = 256

_kept: Kept[tuple[str, str], Markup] = Kept(FRAGMENTS)
_stamp: list[Any] = [float("-inf"), ""]


def fragment_key(*parts: Any) -> str:
    """A key for fragments that show exactly `parts` (JSON values; dict key order ignored)."""
    try:
        encoded = orjson.dumps(parts, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:  # an integer past 64 bits, say: the slower, wider way
        encoded = json.dumps(parts, sort_keys=True, default=repr).encode()
    return hashlib.sha256(encoded).hexdigest()


def _templates_stamp() -> str:
    """The latest modification time of any template (DEBUG only: templates edited live),
    looked at once a second at most."""
    now = time.monotonic()
    if now - _stamp[0] < 1.0:
        return str(_stamp[1])
    stamp = _walked_stamp()
    _stamp[:] = [now, stamp]
    return stamp


def _walked_stamp() -> str:
    latest = 0
    for directory in _template_dirs():
        for root, _, files in os.walk(directory):
            for name in files:
                latest = max(latest, os.stat(os.path.join(root, name)).st_mtime_ns)
    return str(latest)


def _template_dirs() -> list[Path]:
    engines: list[dict[str, Any]] = settings.TEMPLATES
    return [Path(d) for engine in engines for d in engine.get("DIRS", ())]


def stamped_key(key: str) -> str:
    """`key` as fragments are kept by it: with DEBUG on, with the templates' latest
    modification time, so that an edited template renders anew (and a page that was told
    the key of what it shows asks for it again)."""
    return f"{key}:{_templates_stamp()}" if settings.DEBUG else key


def cached_fragment(name: str, key: str | None, caller: Callable[[], str]) -> Markup:
    """The body of a `{% call cached_fragment(name, key) %}` block, rendered once per key."""
    if not key:
        return Markup(caller())  # noqa: S704 - the block's own output, escaped by Jinja
    slot = (name, stamped_key(key))
    # The block's own output, escaped by Jinja.
    return _kept.get_or_make(slot, lambda: Markup(caller()))  # noqa: S704


def forget_fragments() -> None:
    """Drop every kept fragment (tests, to start as a fresh process does)."""
    _kept.clear()


def kept_fragments() -> int:
    return len(_kept)


class Deferred:
    """A mapping or list computed on first use: what a cached fragment's body reads, so
    that a page served from kept fragments does not compute it at all.

    Templates read it as they would the value itself (attributes, items, iteration, length,
    truth); `to_json` encodes its value."""

    __slots__ = ("_compute", "_value")

    def __init__(self, compute: Callable[[], Any]):
        self._compute: Callable[[], Any] | None = compute
        self._value: Any = None

    @property
    def value(self) -> Any:
        if self._compute is not None:
            self._value = self._compute()
            self._compute = None
        return self._value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.value, name)

    def __getitem__(self, key: Any) -> Any:
        return self.value[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.value)

    def __len__(self) -> int:
        return len(self.value)

    def __bool__(self) -> bool:
        return bool(self.value)

    def __contains__(self, item: Any) -> bool:
        return item in self.value
