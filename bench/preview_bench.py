"""The editor's live preview round trip (the Testing Integration panel), through HTTP.

Run from the repository root: `python bench/preview_bench.py` (`make bench` runs it too).
It creates a throw-away test database with the test suite's cast, imports a configuration
with 20 custom fields, 5 mapping fields and 3 endpoints, starts gunicorn as the Dockerfile
runs it (DEBUG=false, `bench/server.py`), signs in as the partner through the sign-in form
(a real session cookie and CSRF token), and posts the editor's form state to the preview
URL the way the browser does: session, org lookup, parsing the form, validation, the
variable tracker, the rendered requests with mock users, the HTML of what changed (the
editor says which sections it shows), gzip.

One row: the preview's p95 against /healthz's p95 on the same server and session, in
interleaved rounds. Targets: p95 at most 50 ms, and at most 3x /healthz's.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
if str(REPOSITORY_ROOT) not in sys.path:
    sys.path.insert(0, str(REPOSITORY_ROOT))
sys.path.insert(0, str(REPOSITORY_ROOT / "bench"))

# The environment of `make test` (DATABASE_URL/REDIS_URL may point elsewhere).
for name, value in {
    "DEBUG": "true",
    "OUTBOUND_ALLOW_PRIVATE_NETWORKS": "true",
    "FAST_PASSWORD_HASHING": "true",
    "DB_CONN_MAX_AGE": "0",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/portal",
    "REDIS_URL": "redis://127.0.0.1:6379/1",
    "DJANGO_SETTINGS_MODULE": "portal.settings",
}.items():
    os.environ.setdefault(name, value)

import django  # noqa: E402

django.setup()
# The client's line per request (the settings log httpx at INFO) would bury the table.
logging.getLogger("httpx").setLevel(logging.WARNING)

import httpx  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment, teardown_test_environment  # noqa: E402
from protocol import Row, measure, percentile, report  # noqa: E402
from server import portal_server, signed_in  # noqa: E402

ROUNDS = 7
REQUESTS_PER_ROUND = 40
TARGET_P95_MS = 50.0
HEALTHZ_RATIO_TARGET = 3.0
CUSTOM_FIELDS = 20
MAPPING_FIELDS = 5


def bench_manifest() -> dict:
    """A list integration: bearer auth, 19 more custom fields (selects, button groups,
    strings), 5 mapping fields, three endpoints with headers and error classifications."""
    custom = [
        {
            "variable": "bearer_token",
            "display_name": "Bearer Token",
            "required": True,
            "secret": True,
        },
        {
            "variable": "region",
            "display_name": "Region",
            "type": "single_select",
            "options": [{"value": v, "label": v.upper()} for v in ("us", "eu", "ap")],
        },
        {
            "variable": "env",
            "display_name": "Environment",
            "type": "button_group",
            "options": [{"value": "live", "label": "Live"}, {"value": "test", "label": "Test"}],
            "default": "live",
        },
    ]
    custom += [
        {
            "variable": f"setting_{n}",
            "display_name": f"Setting {n}",
            "help_text": f"Where to find setting {n}",
            "required": n % 2 == 0,
        }
        for n in range(CUSTOM_FIELDS - len(custom))
    ]
    mapping = [
        {
            "variable": f"id_{n}",
            "display_name": f"Identifier {n}",
            "type": "single_select",
            "options": ["user_id", "email", "amplitude_id", "device_id"],
        }
        for n in range(MAPPING_FIELDS)
    ]
    settings_json = ", ".join(f'"s{n}": "$setting_{n}"' for n in range(CUSTOM_FIELDS - 3))
    item = "{" + ", ".join(f'"id{n}": "$id_{n}"' for n in range(MAPPING_FIELDS)) + "}"
    errors = [
        {"status": 401, "reason": "Unauthorized", "message": "Check your token", "action": "fail"},
        {"status": 429, "reason": "Slow down", "message": "Rate limited", "action": "retry"},
        {
            "status": 404,
            "sub_code": "gone",
            "sub_code_path": "error.code",
            "reason": "Gone",
            "message": "The list was deleted",
            "action": "ignore",
        },
    ]
    headers = {"X-Api-Version": "2024-10-15", "X-Env": "$env"}

    def batch(verb: str) -> dict:
        return {
            "method": "POST",
            "url": f"https://$region.api.acme.test/v2/lists/$list_id/{verb}",
            "headers": headers,
            "payload": '{"batch": "$batch_id", "cohort": "$cohort_name", "users": $items}',
            "item_template": item,
            "batch_size": 1000,
            "errors": errors,
        }

    return {
        "display_name": "Preview Bench",
        "integration_type": "list",
        "auth": {"method": "bearer"},
        "custom_fields": custom,
        "mapping_fields": mapping,
        "endpoints": {
            "create_list": {
                "url": "https://$region.api.acme.test/v2/lists",
                "headers": headers,
                "payload": '{"name": "$amplitude_cohort_name", "settings": {'
                + settings_json
                + "}}",
                "list_id_path": "data.id",
                "errors": errors,
            },
            "add_users": batch("add"),
            "remove_users": batch("remove"),
        },
    }


def run() -> list[Row]:
    setup_test_environment()
    database = settings.DATABASES["default"]
    database.setdefault("TEST", {})["NAME"] = f"test_{database['NAME']}_preview_bench"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        return measure_preview()
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


def measure_preview() -> list[Row]:
    from integrations import actions
    from tests.conftest import PASSWORD, build_cast
    from tests.integrations.forms import form_values

    cast = build_cast()
    integration = actions.integration_import(
        acting_user=cast.alice, org=cast.acme, manifest=bench_manifest()
    )
    # The server reads what this process wrote.
    connection.close()
    with portal_server() as base, signed_in(base, cast.alice.email, PASSWORD) as client:
        page = client.get(f"/portal/integrations/{integration.pk}/configure")
        assert page.status_code == 200, page.status_code
        state = form_values(page.text)
        body = {"state": json.dumps(state)}
        url = f"/portal/integrations/{integration.pk}/preview"
        # Each preview follows an edit, as it does while the partner types: one help text
        # changes, so the configuration is checked and compiled again every time.
        edited = next(key for key in state if key.endswith(".help_text"))
        edits = iter(range(10**9))

        first = client.post(url, data=body)
        assert first.status_code == 200, first.status_code
        answer = first.json()
        assert answer["data"]["valid"], answer["data"]["problems"][:3]
        requests = answer["panel"].count('class="req"')
        assert requests == 3, f"expected 3 rendered requests, got {requests}"
        # As the editor's script does, each preview says what the panel shows (the keys of
        # its sections and completions) and is sent only what changed. The edit changes
        # only the Connect modal, which is sent every time whichever modal key is given,
        # so the keys of the first answer stand for those the script would send.
        shown = dict(
            re.findall(r'<section [^>]*id="(tp-[a-z]+)" data-key="([^"]+)"', answer["panel"])
        )
        assert len(shown) == 3, shown
        shown["suggestions"] = answer["data"]["suggestions_key"]

        def typed() -> dict[str, str]:
            typing = state | {edited: f"Where to look, edit {next(edits)}"}
            return {"state": json.dumps(typing), "shown": json.dumps(shown)}

        partial = client.post(url, data=typed())
        assert partial.status_code == 200, partial.status_code
        sent = re.findall(r'<section [^>]*id="(tp-[a-z]+)"', partial.json()["sections"])
        assert sent == ["tp-modal"], sent
        for name, sample in (("whole", first), ("after an edit", partial)):
            print(
                f"  preview answer, {name}: {len(sample.content):,} bytes, "
                f"{sample.headers.get('content-encoding', 'identity')} on the wire "
                f"{sample.num_bytes_downloaded:,} bytes",
                file=sys.stderr,
            )

        def p95_of(send: Callable[[], httpx.Response]) -> Callable[[], float]:
            def round_p95() -> float:
                samples = []
                for _ in range(REQUESTS_PER_ROUND):
                    started = time.perf_counter()
                    response = send()
                    samples.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200, response.status_code
                return percentile(samples, 0.95)

            return round_p95

        shape = f"{CUSTOM_FIELDS} custom fields, {MAPPING_FIELDS} mapping fields, 3 endpoints"
        return [
            measure(
                f"live preview p95 through gunicorn ({shape})",
                p95_of(lambda: client.post(url, data=typed())),
                p95_of(lambda: client.get("/healthz")),
                rounds=ROUNDS,
                target_ratio=HEALTHZ_RATIO_TARGET,
                limit=TARGET_P95_MS,
                floor_name=f"/healthz p95 on the same server and session; "
                f"{REQUESTS_PER_ROUND} requests a round",
            )
        ]


if __name__ == "__main__":
    sys.exit(report(run()))
