"""The Jinja2 environment for page templates."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from django.contrib.messages import get_messages
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince
from jinja2 import Environment, StrictUndefined, select_autoescape
from markupsafe import Markup

from portal.flags import flag_label
from portal.fragments import Deferred, cached_fragment, fragment_key
from portal.wording import counted


def url(name: str, *args: object, **kwargs: object) -> str:
    return reverse(name, args=args or None, kwargs=kwargs or None)


def when(value: datetime | None) -> str:
    if not value:
        return ""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")


def age(value: datetime | None) -> str:
    """How long since `value`: `3 hours`; under a minute, `less than a minute`."""
    if not value:
        return ""
    if timezone.now() - value < timedelta(minutes=1):
        return "less than a minute"
    return timesince(value).split(",")[0]


def ago(value: datetime | None) -> str:
    """`3 hours ago`; under a minute, `just now`."""
    if not value:
        return ""
    if timezone.now() - value < timedelta(minutes=1):
        return "just now"
    return age(value) + " ago"


def as_example(placeholder: str) -> str:
    """A placeholder that shows a sample value reads as one ("e.g. 401"), so that nobody
    takes it for a value already there; one that is words already ("no limit") stays."""
    text = str(placeholder)
    if " " in text.strip() or text.startswith(("(", "e.g.")):
        return text
    return f"e.g. {text}"


def _deferred_value(value: object) -> object:
    if isinstance(value, Deferred):
        return value.value
    raise TypeError(f"{type(value).__name__} is not JSON")


def to_json(value: object) -> Markup:
    """JSON for a <script type="application/json"> block, safe against </script>."""
    text = json.dumps(value, ensure_ascii=False, default=_deferred_value)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)  # noqa: S704 - escaped above for a <script> data block


def environment(**options: Any) -> Environment:
    options.setdefault("undefined", StrictUndefined)
    # Pages are escaped; plain-text emails (.txt) are not, or "R&D" would arrive as "R&amp;D".
    options["autoescape"] = select_autoescape(disabled_extensions=("txt",), default=True)
    env = Environment(**options)  # noqa: S701 - autoescape is set just above
    env.globals.update(
        static=static,
        url=url,
        get_messages=get_messages,
        now=timezone.now,
        flag_label=flag_label,
        cached_fragment=cached_fragment,
        fragment_key_of=fragment_key,
    )
    env.filters.update(
        when=when, age=age, ago=ago, to_json=to_json, counted=counted, as_example=as_example
    )
    return env
