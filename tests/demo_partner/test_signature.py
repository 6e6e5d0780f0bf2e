"""The demo partner checks X-Signature as the partner documentation describes it.

Requests are signed with the platform's own signer (`syncengine.core.signing`) and verified
by the demo partner's separate code: the two meet only in the documented format, so a
request the platform signs and the partner refuses is a break of the public contract.
"""

from __future__ import annotations

import time

import httpx
import pytest

from demo_partner import DEMO_TOKEN, DemoPartner
from demo_partner.signature import TOLERANCE_SECONDS, signature_problem
from syncengine.core import signing

SECRET = "whsec_demo_partner_secret"
BODY = b'{"name": "Signed list"}'
AUTH = {"Authorization": f"Bearer {DEMO_TOKEN}", "Content-Type": "application/json"}


@pytest.fixture
def signing_partner(start_partner) -> DemoPartner:
    """The demo partner checking X-Signature with SECRET."""
    return start_partner(signing_secret=SECRET)


def create_list(partner: DemoPartner, body: bytes, signature: str | None) -> httpx.Response:
    headers = dict(AUTH) if signature is None else {**AUTH, "X-Signature": signature}
    return httpx.post(f"{partner.url}/v1/lists", content=body, headers=headers, timeout=5)


def v1_of(header: str) -> str:
    """The v1 value of a header made by the platform's signer."""
    return header.partition(",v1=")[2]


def test_a_request_signed_by_the_platform_is_accepted(signing_partner):
    response = create_list(signing_partner, BODY, signing.sign(SECRET, BODY))
    assert response.status_code == 201
    assert [list_.name for list_ in signing_partner.state.lists.values()] == ["Signed list"]
    assert [entry["signature"] for entry in signing_partner.state.log_entries()] == ["valid"]


def test_a_request_without_a_body_signed_by_the_platform_is_accepted(signing_partner):
    response = httpx.get(
        f"{signing_partner.url}/v1/lists",
        headers={**AUTH, "X-Signature": signing.sign(SECRET, None)},
        timeout=5,
    )
    assert response.status_code == 200
    assert signing_partner.state.log_entries()[-1]["signature"] == "valid"


def test_a_timestamp_within_five_minutes_is_accepted(signing_partner):
    four_minutes_ago = int(time.time()) - 240
    response = create_list(
        signing_partner, BODY, signing.sign(SECRET, BODY, timestamp=four_minutes_ago)
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("body", "signature", "problem"),
    [
        pytest.param(
            BODY, lambda now: signing.sign("whsec_other", BODY), "matches the body", id="secret"
        ),
        pytest.param(
            b'{"name": "Tampered"}',
            lambda now: signing.sign(SECRET, BODY),
            "matches the body",
            id="tampered-body",
        ),
        pytest.param(
            BODY,
            lambda now: signing.sign(SECRET, BODY, timestamp=now - 360),
            f"more than {TOLERANCE_SECONDS} s",
            id="six-minutes-old",
        ),
        pytest.param(
            BODY,
            lambda now: signing.sign(SECRET, BODY, timestamp=now + 360),
            f"more than {TOLERANCE_SECONDS} s",
            id="six-minutes-ahead",
        ),
        pytest.param(
            BODY,
            lambda now: "v1=" + v1_of(signing.sign(SECRET, BODY)),
            "exactly one t",
            id="no-timestamp",
        ),
        pytest.param(
            BODY,
            lambda now: f"t=soon,v1={v1_of(signing.sign(SECRET, BODY))}",
            "whole unix seconds",
            id="timestamp-not-a-number",
        ),
        pytest.param(BODY, lambda now: f"t={now}", "no v1 value", id="no-v1"),
        pytest.param(
            BODY,
            lambda now: f"t={now},v2={v1_of(signing.sign(SECRET, BODY, timestamp=now))}",
            "no v1 value",
            id="only-an-unknown-version",
        ),
        pytest.param(BODY, lambda now: "", "exactly one t", id="empty-header"),
    ],
)
def test_a_bad_signature_is_refused_and_changes_nothing(signing_partner, body, signature, problem):
    response = create_list(signing_partner, body, signature(int(time.time())))
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "E_SIGNATURE"
    assert problem in error["message"]
    assert signing_partner.state.lists == {}


def test_a_missing_signature_header_is_refused(signing_partner):
    response = create_list(signing_partner, BODY, None)
    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "E_SIGNATURE",
        "message": "missing X-Signature header",
    }
    assert signing_partner.state.lists == {}


@pytest.mark.parametrize("matching_first", [True, False])
def test_during_a_rotation_one_matching_v1_of_two_is_enough(signing_partner, matching_first):
    now = int(time.time())
    current = v1_of(signing.sign(SECRET, BODY, timestamp=now))
    previous = v1_of(signing.sign("whsec_previous", BODY, timestamp=now))
    first, second = (current, previous) if matching_first else (previous, current)
    response = create_list(signing_partner, BODY, f"t={now},v1={first},v1={second}")
    assert response.status_code == 201


def test_two_v1_values_that_both_fail_are_refused(signing_partner):
    now = int(time.time())
    wrong = [v1_of(signing.sign(s, BODY, timestamp=now)) for s in ("whsec_a", "whsec_b")]
    response = create_list(signing_partner, BODY, f"t={now},v1={wrong[0]},v1={wrong[1]}")
    assert response.status_code == 401
    assert signing_partner.state.lists == {}


def test_unknown_pairs_in_the_header_are_ignored(signing_partner):
    signature = signing.sign(SECRET, BODY)
    response = create_list(signing_partner, BODY, f"scheme=hmac,{signature},v2=0badc0de")
    assert response.status_code == 201


def test_without_a_secret_a_signature_is_logged_but_not_checked(partner):
    response = create_list(partner, BODY, signing.sign("anything", BODY))
    assert response.status_code == 201
    assert partner.state.log_entries()[-1]["signature"] == "present (not checked)"


# The README's worked example: secret whsec_test, body {"a":1}, t=1700000000.
DOCUMENTED_HEADER = (
    "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
)


def test_the_documented_example_verifies():
    assert signature_problem("whsec_test", b'{"a":1}', DOCUMENTED_HEADER, now=1_700_000_000) is None
    assert signature_problem("whsec_test", b'{"a":2}', DOCUMENTED_HEADER, now=1_700_000_000) == (
        "no v1 value of the signature matches the body"
    )
    assert signature_problem("whsec_test", b'{"a":1}', DOCUMENTED_HEADER, now=1_700_000_301) == (
        "the signature's t is more than 300 s from this server's clock"
    )


def test_a_v1_value_with_non_ascii_characters_is_refused_not_an_error():
    header = "t=1700000000,v1=\u00e9\u00e9"
    assert signature_problem("whsec_test", b"", header, now=1_700_000_000) == (
        "no v1 value of the signature matches the body"
    )
