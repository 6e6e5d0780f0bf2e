"""Small value types shared by the core modules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning"]
SkipReason = Literal["missing_value", "invalid_value", "not_found"]

# A user as the platform knows it: the Amplitude identifiers plus free-form properties.
# Keys include "user_id", "amplitude_id", "device_id", "email" and any user property.
User = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in a configuration, with where it is.

    `path` is a dotted JSON path into the manifest ("endpoints.add_users.payload",
    "custom_fields.1.variable"); `line` and `column` are 1-based positions inside that
    field's text when the problem is inside a template.
    """

    severity: Severity
    code: str
    message: str
    path: str
    line: int | None = None
    column: int | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def as_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "path": self.path,
            "line": self.line,
            "column": self.column,
        }


@dataclass(frozen=True, slots=True)
class RenderContext:
    """Everything a request needs besides the batch of users.

    `values` holds the Connect-modal values by variable (auth fields and custom fields);
    `mapping` holds, for each mapping variable, the user property the end user chose
    (e.g. {"user_id_field_amplitude": "email"}).
    """

    values: Mapping[str, Any] = field(default_factory=dict)
    mapping: Mapping[str, str] = field(default_factory=dict)
    cohort_id: str = ""
    cohort_name: str = ""
    list_id: str | None = None


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    """A fully rendered partner request, ready for the outbound client.

    `secrets` lists every string that must never be displayed or stored in clear: the
    secret field values and anything derived from them (a Basic credential, say).
    """

    endpoint: str
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes | None
    batch_id: str | None = None
    item_count: int = 0
    secrets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SkippedUser:
    """A user that was not sent, and why: a value missing under `if_missing: skip` (or
    with nowhere to be left out), a value its placeholder's type refuses, or a user the
    endpoint's lookup did not find (`not_found: skip`). `message` says which value."""

    reason: SkipReason
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message}
