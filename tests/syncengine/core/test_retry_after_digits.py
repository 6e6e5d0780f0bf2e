"""A partner's `Retry-After` that is not delta-seconds or an HTTP date is ignored (the
normal backoff applies), whatever characters it holds — never an exception."""

from __future__ import annotations

import pytest

from syncengine.core.errors import parse_retry_after
from syncengine.core.retry import RetryPolicy


@pytest.mark.parametrize("value", ["²", "1²", "٣", "１２", "9" * 400, "9" * 5000])
def test_it_ignores_what_is_not_ascii_delta_seconds(value):
    assert parse_retry_after(value) is None


def test_it_still_reads_delta_seconds():
    assert parse_retry_after(" 120 ") == 120.0
    assert parse_retry_after("9" * 300) == float("9" * 300)


def test_an_ignored_retry_after_leaves_the_normal_backoff():
    policy = RetryPolicy(jitter=0)
    assert policy.delay_before_next(1, parse_retry_after("²")) == policy.delay_before_next(1)
