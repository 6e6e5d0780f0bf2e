"""The partner error family: when a failure is worth another try, and what a response holds."""

from __future__ import annotations

import email.utils

import pytest

from syncengine.core.errors import (
    AttemptRecord,
    Diagnosis,
    PartnerError,
    PartnerResponse,
    is_retryable_status,
    parse_retry_after,
)
from syncengine.core.types import PreparedRequest

REQUEST = PreparedRequest(
    endpoint="create_list",
    method="POST",
    url="https://api.partner.test/lists?key=tok-9f3a2b71",
    headers=(("Authorization", "Bearer tok-9f3a2b71"),),
    body=b'{"name": "tok-9f3a2b71"}',
    secrets=("tok-9f3a2b71",),
)


def response(body: bytes, *, truncated: bool = False, status: int = 200) -> PartnerResponse:
    return PartnerResponse(
        status=status,
        reason="OK",
        headers=(("Content-Type", "application/json"), ("X-Echo", "tok-9f3a2b71")),
        body=body,
        truncated=truncated,
        latency_ms=12.34,
        request=REQUEST,
    )


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (408, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (507, True),
        (501, False),
        (505, False),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (409, False),
        (422, False),
        (200, False),
        (302, False),
    ],
)
def test_retryable_statuses(status, retryable):
    assert is_retryable_status(status) is retryable


NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (" 5 ", 5.0),
        (email.utils.formatdate(NOW + 30, usegmt=True), 30.0),
        (email.utils.formatdate(NOW - 30, usegmt=True), 0.0),  # a past date means now
        ("soon", None),
        ("-5", None),
        ("1.5", None),
        ("", None),
        (None, None),
        ("Wed, 99 Foo 2015 07:28:00 GMT", None),
    ],
)
def test_parse_retry_after(value, seconds):
    assert parse_retry_after(value, now=NOW) == seconds


@pytest.mark.parametrize("value", ["²", "1²", "٣", "１２", "9" * 400, "9" * 5000])
def test_it_ignores_what_is_not_ascii_delta_seconds(value):
    assert parse_retry_after(value) is None


def test_it_still_reads_delta_seconds():
    assert parse_retry_after(" 120 ") == 120.0
    assert parse_retry_after("9" * 300) == float("9" * 300)


def test_a_response_reads_its_headers_case_insensitively_and_its_json():
    answer = response(b'{"data": {"id": 7}}')
    assert answer.ok
    assert answer.header("content-type") == "application/json"
    assert answer.header("Retry-After") is None
    assert answer.json() == {"data": {"id": 7}}


def test_a_body_that_is_not_json_or_was_cut_is_a_permanent_non_json_error():
    with pytest.raises(PartnerError) as caught:
        response(b"<html>hi</html>").json()
    assert (caught.value.kind, caught.value.permanent) == ("non_json", True)
    assert "<html>hi</html>" in caught.value.message
    with pytest.raises(PartnerError, match="cut at 9 bytes"):
        response(b'{"data": ', truncated=True).json()


def test_an_attempt_record_describes_itself_and_masks_its_secrets():
    error = PartnerError("http_status", "503 tok-9f3a2b71", permanent=False, status=503)
    verdict = Diagnosis(
        "http_status", "503 Service Unavailable", "tok-9f3a2b71 is down", "retry", 503
    )
    record = AttemptRecord(
        endpoint="create_list",
        batch_id=None,
        attempt=2,
        max_attempts=8,
        outcome="retrying",
        request=REQUEST,
        response=response(b"tok-9f3a2b71", status=503),
        error=error,
        diagnosis=verdict,
        wait_seconds=4.25,
    )
    assert record.status == 503
    assert record.describe() == "attempt 2 of 8: 503 Service Unavailable, waiting 4.2 s"
    shown = repr(record.for_display())
    assert "tok-9f3a2b71" not in shown
    assert "••••••" in shown


def test_attempts_are_counted_only_where_there_were_or_will_be_more():
    """No "attempt 1 of 8" on a success: it read as if retries were still to come."""

    def record(attempt, outcome, status=200, max_attempts=8):
        return AttemptRecord(
            endpoint="add_users",
            batch_id=None,
            attempt=attempt,
            max_attempts=max_attempts,
            outcome=outcome,
            request=REQUEST,
            response=response(b"{}", status=status),
        )

    assert record(1, "success").describe() == "200 OK"
    assert record(3, "success").describe() == "200 OK on attempt 3 of 8"
    assert record(1, "failed", 401).describe() == "failed, not retried"
    assert record(8, "failed", 503).describe() == "attempt 8 of 8: failed, giving up"
    assert record(1, "failed", 503, max_attempts=1).describe() == "failed, not retried"
