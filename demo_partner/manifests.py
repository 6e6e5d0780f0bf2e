"""Manifests that describe the demo partner's own API.

One definition for everything that talks to the demo partner: the demo drafts of `make
run`, the tests and the benchmarks. Callers adjust the result (labels, extra fields) for
their purpose; the endpoints, auth and mapping stay the same everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from demo_partner.credentials import DEMO_TOKEN

IDENTIFIERS = ["user_id", "email", "amplitude_id", "device_id"]


def _common(name: str, integration_type: str, delivery: dict[str, Any] | None) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "manifest_version": 1,
        "display_name": name,
        "integration_type": integration_type,
        "auth": {"method": "bearer", "token_variable": "bearer_token"},
        "custom_fields": [
            {
                "variable": "bearer_token",
                "display_name": "Bearer Token",
                "type": "string",
                "required": True,
                "secret": True,
            },
        ],
        "mapping_fields": [
            {
                "variable": "user_id_field",
                "display_name": "User ID",
                "type": "single_select",
                "options": list(IDENTIFIERS),
            },
        ],
    }
    if delivery:
        manifest["delivery"] = dict(delivery)
    return manifest


def list_manifest(
    base: str,
    *,
    name: str = "Demo Partner Lists",
    batch_size: int = 10_000,
    errors: Sequence[dict[str, Any]] = (),
    delivery: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The list API: create a list (id at data.id), add and remove members."""
    members = f"{base}/v1/lists/$list_id/members"
    batch = {
        "payload": '{"userIds": $items}',
        "item_template": '"$user_id_field"',
        "batch_size": batch_size,
        "errors": list(errors),
    }
    return {
        **_common(name, "list", delivery),
        "endpoints": {
            "create_list": {
                "method": "POST",
                "url": f"{base}/v1/lists",
                "payload": '{"name": "$cohort_name"}',
                "list_id_path": "data.id",
                "errors": list(errors),
            },
            "add_users": {"method": "POST", "url": members, **batch},
            "remove_users": {"method": "DELETE", "url": members, **batch},
        },
    }


def property_manifest(
    base: str,
    *,
    name: str = "Demo Partner Properties",
    batch_size: int = 10_000,
    errors: Sequence[dict[str, Any]] = (),
    delivery: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The property API: one update call with `in_cohort` per user."""
    return {
        **_common(name, "property", delivery),
        "endpoints": {
            "update_users": {
                "method": "POST",
                "url": f"{base}/v1/users/properties",
                "payload": '{"users": $items}',
                "item_template": '{"user_id": "$user_id_field", "in_cohort": $in_cohort}',
                "batch_size": batch_size,
                "errors": list(errors),
            }
        },
    }


def guided_manifest(base: str, integration_type: str, *, name: str) -> dict[str, Any]:
    """The demo partner's list or property API as a partner starts a draft from it: the
    token field says which token the demo partner accepts, and a 401 is classified with a
    message that says so too."""
    bad_token = {
        "status": 401,
        "sub_code": "E_AUTH",
        "sub_code_path": "error.code",
        "reason": "Unauthorized",
        "message": f"The demo partner did not accept the API token: use {DEMO_TOKEN}.",
        "action": "fail",
    }
    build = list_manifest if integration_type == "list" else property_manifest
    manifest = build(base, name=name, batch_size=1000, errors=[bad_token])
    manifest["custom_fields"][0].update(
        display_name="API token", help_text=f"The demo partner accepts {DEMO_TOKEN}."
    )
    manifest["mapping_fields"][0]["help_text"] = (
        "Which Amplitude identifier the demo partner receives."
    )
    return manifest
