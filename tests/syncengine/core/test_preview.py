"""Live previews and curl commands."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncengine.core.masking import MASK
from syncengine.core.preview import (
    PREVIEW_USER_COUNT,
    SAMPLE_COHORT_NAME,
    SAMPLE_LIST_ID,
    curl_command,
    preview_manifest,
    sample_mapping,
    sample_values,
)
from syncengine.core.types import PreparedRequest

FIXTURES = Path(__file__).parent / "fixtures"
BASH = shutil.which("bash")


def shell_arguments(command: str) -> list[str]:
    """The arguments a real shell passes to curl when the command is pasted."""
    script = 'curl() { printf "%s\\0" "$@"; }\n' + command
    output = subprocess.run([BASH, "-c", script], capture_output=True, check=True).stdout
    return output.decode().split("\0")[:-1]


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def test_it_previews_every_endpoint_with_three_mock_users():
    preview = preview_manifest(fixture("acme_list"))
    assert [p.endpoint for p in preview.endpoints] == ["create_list", "add_users", "remove_users"]
    assert all(p.ok for p in preview.endpoints)
    add = preview.endpoint("add_users")
    assert add.method == "POST"
    assert add.url == f"https://api.acme.test/us/lists/{SAMPLE_LIST_ID}/add"
    assert json.loads(add.body) == {"userIds": ["alice-1", "bob-2", "charlie-3"]}
    assert add.body.startswith('{\n  "userIds": [\n')
    assert len(preview.users) == PREVIEW_USER_COUNT


def test_secrets_are_masked_in_headers_urls_bodies_and_values():
    doc = fixture("acme_list")
    doc["endpoints"]["create_list"]["url"] = "https://api.acme.test/$region/lists?t=$bearer_token"
    doc["endpoints"]["create_list"]["payload"] = '{"name": "$cohort_name", "t": "$bearer_token"}'
    preview = preview_manifest(doc, values={"bearer_token": "tok_SECRET_1"})
    create = preview.endpoint("create_list")
    shown = json.dumps(preview.as_dict())
    assert "tok_SECRET_1" not in shown
    assert create.headers[0] == ("Authorization", f"Bearer {MASK}")
    assert create.url.endswith(f"?t={MASK}")
    assert json.loads(create.body)["t"] == MASK
    assert preview.values["bearer_token"] == MASK


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1))
def test_a_secret_is_masked_wherever_it_lands_in_a_url(tail):
    """Path and query values are encoded differently; each spelling is masked whole."""
    secret = "tok_" + tail
    doc = fixture("acme_list")
    doc["endpoints"]["create_list"]["url"] = (
        "https://api.acme.test/$region/lists/$bearer_token/x?t=$bearer_token#$bearer_token"
    )
    preview = preview_manifest(doc, values={"bearer_token": secret})
    create = preview.endpoint("create_list")
    assert create.url == f"https://api.acme.test/us/lists/{MASK}/x?t={MASK}#{MASK}"
    assert shell_arguments(create.curl)[2] == create.url


def test_reveal_shows_the_partners_own_values():
    preview = preview_manifest(
        fixture("acme_list"), values={"bearer_token": "tok_SECRET_1"}, reveal=True
    )
    assert preview.endpoint("create_list").headers[0] == ("Authorization", "Bearer tok_SECRET_1")
    assert "tok_SECRET_1" in preview.endpoint("create_list").curl


@pytest.mark.skipif(BASH is None, reason="needs bash")
def test_the_curl_command_survives_a_real_shell():
    preview = preview_manifest(fixture("acme_list"))
    curl = preview.endpoint("create_list").curl
    arguments = shell_arguments(curl)
    assert arguments[:3] == ["-X", "POST", "https://api.acme.test/us/lists"]
    assert arguments[3:7] == [
        "-H",
        f"Authorization: Bearer {MASK}",
        "-H",
        "Content-Type: application/json",
    ]
    assert arguments[7] == "--data-raw"
    assert json.loads(arguments[8]) == {"name": SAMPLE_COHORT_NAME}


@pytest.mark.skipif(BASH is None, reason="needs bash")
def test_curl_quotes_hostile_text():
    request = PreparedRequest(
        endpoint="create_list",
        method="POST",
        url="https://a.test/x?q=1&r=$(id)",
        headers=(("X-A", "it's `whoami`"),),
        body=b'{"a": "\'; rm -rf / #"}',
    )
    assert shell_arguments(curl_command(request)) == [
        "-X",
        "POST",
        "https://a.test/x?q=1&r=$(id)",
        "-H",
        "X-A: it's `whoami`",
        "--data-raw",
        '{"a": "\'; rm -rf / #"}',
    ]


def test_curl_masks_secrets_unless_revealed():
    request = PreparedRequest(
        endpoint="add_users",
        method="PUT",
        url="https://a.test/k/s3cr3t",
        headers=(("X-Key", "s3cr3t"),),
        body=b'{"k": "s3cr3t"}',
        secrets=("s3cr3t",),
    )
    assert "s3cr3t" not in curl_command(request)
    assert curl_command(request).count(MASK) == 3
    assert "s3cr3t" in curl_command(request, reveal=True)


def test_an_endpoint_with_errors_shows_them_and_the_others_still_render():
    doc = fixture("acme_list")
    doc["endpoints"]["add_users"]["payload"] = '{"userIds": $items,}'
    preview = preview_manifest(doc)
    broken = preview.endpoint("add_users")
    assert not broken.ok
    assert broken.url is None
    assert [(e.code, e.line, e.column) for e in broken.errors] == [("invalid_json", 1, 20)]
    assert preview.endpoint("remove_users").ok


def test_a_render_error_is_shown_on_its_endpoint():
    doc = fixture("acme_list")
    doc["endpoints"]["create_list"]["headers"] = {"X-Region": "$region"}
    preview = preview_manifest(doc, values={"region": "é"})
    [error] = preview.endpoint("create_list").errors
    assert error.code == "render_error"
    assert error.path == "endpoints.create_list.headers.X-Region"


def test_sample_values_prefer_given_then_default_then_first_option():
    doc = fixture("property_basic")
    values = sample_values(doc, {"workspace": "acme"})
    assert values["workspace"] == "acme"
    assert values["env"] == "live"
    assert values["api_key"].startswith("sample-api-key-")
    doc["custom_fields"][3]["default"] = None
    assert sample_values(doc)["env"] == "live"
    assert sample_values(doc)["workspace"] == "sample-workspace"


def test_an_empty_given_value_falls_back_to_the_sample():
    assert sample_values(fixture("acme_list"), {"region": ""})["region"] == "us"


def test_sample_mapping_uses_the_first_option_or_user_id():
    assert sample_mapping(fixture("acme_list")) == {"user_id_field_amplitude": "user_id"}
    assert sample_mapping(fixture("jsonapi_list")) == {"email_field": "email"}
    assert sample_mapping(fixture("property_basic")) == {"user_key": "user_id"}
    assert sample_mapping(fixture("acme_list"), {"user_id_field_amplitude": "email"}) == {
        "user_id_field_amplitude": "email"
    }


def test_update_users_previews_entering_users():
    preview = preview_manifest(fixture("property_basic"))
    body = json.loads(preview.endpoint("update_users").body)
    assert [contact["in_cohort"] for contact in body["contacts"]] == [True, True, True]


def test_preview_uses_given_users():
    users = [{"user_id": "zed"}]
    preview = preview_manifest(fixture("acme_list"), users=users)
    assert json.loads(preview.endpoint("add_users").body) == {"userIds": ["zed"]}


def test_as_dict_is_json_ready():
    data = preview_manifest(fixture("jsonapi_list")).as_dict()
    assert json.loads(json.dumps(data)) == data


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12)),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)


def paths_of(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths_of(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths_of(item, (*prefix, index))
    return found


TEMPLATE_TEXTS = st.sampled_from(
    [
        "",
        "$",
        "$items",
        '{"a": $items}',
        '"$uid"',
        "https://$region.x.test/$list_id",
        "https://x.test/$bearer_token",
        "\r\n",
        "\ud800",
        "$in_cohort",
        "api_key_header",
        "basic",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_preview_never_raises_on_a_mutated_manifest(data):
    base = fixture(
        data.draw(
            st.sampled_from(
                ["acme_list", "jsonapi_list", "property_basic", "no_auth_minimal", "broken"]
            )
        )
    )
    doc = copy.deepcopy(base)
    path = data.draw(st.sampled_from(paths_of(doc)))
    value = data.draw(st.one_of(json_values, TEMPLATE_TEXTS))
    if path:
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    else:
        doc = value
    preview = preview_manifest(doc)
    json.dumps(preview.as_dict())
    for endpoint in preview.endpoints:
        assert endpoint.ok == (endpoint.curl is not None)
