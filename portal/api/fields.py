"""Serializer fields of the API where DRF's are lenient.

`Text` is DRF's `CharField` without the coercion of numbers: the schema says a string, so
`{"name": 0}` is refused like any other value of the wrong type instead of becoming "0".
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class Text(serializers.CharField):
    default_error_messages = {"not_text": "Must be text (a JSON string)."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_text")
        return super().to_internal_value(data)


class Flag(serializers.BooleanField):
    """DRF's `BooleanField` without numbers: `true`/`false` in JSON, and in a form the
    words DRF reads (`true`, `false`, `on`, `off`, ...), but never `0` or `1.0`."""

    default_error_messages = {"not_a_flag": "Must be true or false."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool | str):
            self.fail("not_a_flag")
        return super().to_internal_value(data)
