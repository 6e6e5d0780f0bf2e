"""Rendering and validation benchmarks for the template engine (DESIGN §5).

Run from the repository root: `python bench/render_bench.py` (`make bench` runs it too).
Two rows: a 10,000-item add_users batch through `build_request` against hand-written
Python that builds the same objects and calls `orjson.dumps` (target 1.5×); and
`check_manifest` of a 50-field configuration (under 10 ms) against reading the same
configuration and parsing each of its JSON templates with the standard library.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
if str(REPOSITORY_ROOT) not in sys.path:
    sys.path.insert(0, str(REPOSITORY_ROOT))
sys.path.insert(0, str(REPOSITORY_ROOT / "bench"))

import orjson  # noqa: E402
from protocol import Row, measure, report, timed  # noqa: E402

from syncengine.core.compiler import compile_manifest  # noqa: E402
from syncengine.core.manifest.checks import check_manifest  # noqa: E402
from syncengine.core.types import RenderContext  # noqa: E402
from syncengine.core.users import generate_users  # noqa: E402

BATCH_USERS = 10_000
RENDER_ROUNDS = 60
CHECK_ROUNDS = 200
RATIO_TARGET = 1.5
CHECK_TARGET_MS = 10.0
CHECK_RATIO_TARGET = 20.0
CUSTOM_FIELD_COUNT = 45
MAPPING_FIELD_COUNT = 5
COHORT_NAME = "Power users"
ITEM_TEMPLATE = (
    '{"id": "$user_id_field_amplitude", "email": $email_map, '
    '"label": "[Amplitude] ${cohort_name}: ${user_id_field_amplitude}"}'
)


def batch_manifest() -> dict[str, Any]:
    """A list integration whose add_users item template has three fields, one interpolated."""
    identity = {"user_id_field_amplitude": "user_id", "email_map": "email"}
    endpoint = {
        "url": "https://api.acme.test/lists/$list_id/users",
        "payload": '{"userIds": $items}',
        "item_template": ITEM_TEMPLATE,
    }
    return {
        "display_name": "Bench",
        "integration_type": "list",
        "auth": {"method": "bearer"},
        "custom_fields": [
            {"variable": "bearer_token", "display_name": "Token", "secret": True},
        ],
        "mapping_fields": [
            {"variable": name, "display_name": name, "type": "single_select", "options": [prop]}
            for name, prop in identity.items()
        ],
        "endpoints": {
            "create_list": {
                "url": "https://api.acme.test/lists",
                "payload": '{"n": "$cohort_name"}',
            },
            "add_users": endpoint,
            "remove_users": endpoint,
        },
    }


def fifty_field_manifest() -> dict[str, Any]:
    """A configuration with 45 custom and 5 mapping fields, every one used somewhere."""
    custom = [f"field_{index}" for index in range(CUSTOM_FIELD_COUNT)]
    mapping = [f"mapped_{index}" for index in range(MAPPING_FIELD_COUNT)]
    select = {"type": "single_select", "options": [{"value": "a", "label": "A"}]}
    payload = "{" + ", ".join(f'"{name}": "$${name} = ${name}"' for name in custom) + "}"
    item = "{" + ", ".join(f'"{name}": "${name}"' for name in mapping) + "}"
    batch = {
        "url": "https://api.acme.test/lists/$list_id/$field_0",
        "headers": {"X-Batch": "$batch_id", "X-Cohort": "$cohort_id"},
        "payload": '{"items": $items, "cohort": "$amplitude_cohort_name"}',
        "item_template": item,
        "batch_size": 500,
        "errors": [{"status": 429, "action": "retry"}, {"status": 401, "message": "Bad key"}],
    }
    return {
        "display_name": "Fifty fields",
        "integration_type": "list",
        "auth": {"method": "basic", "username_variable": "field_1", "password_variable": None},
        "custom_fields": [
            {"variable": name, "display_name": name.title(), **(select if index % 3 else {})}
            for index, name in enumerate(custom)
        ],
        "mapping_fields": [
            {
                "variable": name,
                "display_name": name.title(),
                "type": "single_select",
                "options": ["user_id", "email", "device_id"],
            }
            for name in mapping
        ],
        "endpoints": {
            "create_list": {"url": "https://api.acme.test/lists", "payload": payload},
            "add_users": batch,
            "remove_users": batch | {"method": "DELETE"},
        },
    }


PLACEHOLDER = re.compile(r"\$(?:\$|\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)")


def parse_floor(manifest: dict[str, Any]) -> int:
    """The least a check must do: read the configuration, find the placeholders of every
    template and parse each JSON template (placeholders stood in for by 0) with the
    standard library. Returns the placeholders found, so the work cannot be skipped."""
    found = 0
    for endpoint in json.loads(json.dumps(manifest))["endpoints"].values():
        texts = [endpoint.get("url", ""), *endpoint.get("headers", {}).values()]
        for text in texts:
            found += len(PLACEHOLDER.findall(text))
        for part in ("payload", "item_template"):
            text = endpoint.get(part)
            if text:
                found += len(PLACEHOLDER.findall(text))
                json.loads(PLACEHOLDER.sub("0", text))
    return found


def run() -> list[Row]:
    users = generate_users(BATCH_USERS)
    integration = compile_manifest(batch_manifest())
    context = RenderContext(
        values={"bearer_token": "tok"},
        mapping={"user_id_field_amplitude": "user_id", "email_map": "email"},
        cohort_id="c1",
        cohort_name=COHORT_NAME,
        list_id="L1",
    )

    def engine() -> bytes | None:
        request = integration.build_request(
            "add_users", context=context, users=users, batch_id="b1"
        )
        return request.body

    def hand_written() -> bytes:
        id_property, email_property, cohort_name = "user_id", "email", COHORT_NAME
        return orjson.dumps(
            {
                "userIds": [
                    {
                        "id": user[id_property],
                        "email": user[email_property],
                        "label": f"[Amplitude] {cohort_name}: {user[id_property]}",
                    }
                    for user in users
                ]
            }
        )

    if engine() != hand_written():
        raise SystemExit("the engine and the hand-written code disagree; fix that first")
    fifty = fifty_field_manifest()
    diagnostics = check_manifest(fifty)
    if diagnostics:
        raise SystemExit(f"the 50-field configuration is not clean: {diagnostics[:3]}")
    return [
        measure(
            f"render add_users {BATCH_USERS:,} items",
            timed(engine),
            timed(hand_written),
            rounds=RENDER_ROUNDS,
            target_ratio=RATIO_TARGET,
            floor_name="hand-written Python building the same objects + orjson.dumps",
            pause_gc=True,
        ),
        measure(
            "check_manifest, 50 fields",
            timed(lambda: check_manifest(fifty)),
            timed(lambda: parse_floor(fifty)),
            rounds=CHECK_ROUNDS,
            target_ratio=CHECK_RATIO_TARGET,
            limit=CHECK_TARGET_MS,
            floor_name="json round trip of the manifest + json.loads of each template",
            pause_gc=True,
        ),
    ]


if __name__ == "__main__":
    sys.exit(report(run()))
