"""Sign-in failures and password-reset mails are limited per account and per client
address, the address read through the configured number of trusted proxies: one noisy
address never locks out other people, and nobody can lock an account out for everyone
with a handful of wrong passwords."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client, RequestFactory
from django.urls import reverse

from portal.ratelimit import client_address
from tests.conftest import PASSWORD

PROXY = "10.0.0.1"  # the TLS proxy: every request reaches the portal from it
ATTACKER = "203.0.113.7"
ELSEWHERE = "198.51.100.9"


@pytest.fixture
def behind_one_proxy(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    return settings


def sign_in(email: str, password: str, address: str, *, spoofed: str = "") -> int:
    """A sign-in through the proxy from `address` (a client may send its own
    X-Forwarded-For, which the proxy appends to); the status, 302 when signed in."""
    forwarded = f"{spoofed}, {address}" if spoofed else address
    response = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded).post(
        reverse("signin"), {"email": email, "password": password}
    )
    return response.status_code


@pytest.mark.parametrize(
    "proxies, forwarded, expected",
    [
        (0, "203.0.113.7", PROXY),  # no proxy configured: the header proves nothing
        (1, "203.0.113.7", "203.0.113.7"),
        (1, "1.2.3.4, 203.0.113.7", "203.0.113.7"),  # the client wrote 1.2.3.4 itself
        (2, "1.2.3.4, 203.0.113.7, 10.0.0.2", "203.0.113.7"),
        (2, "203.0.113.7", PROXY),  # shorter than the proxies: not through them
        (1, "not-an-address", PROXY),
        (1, "", PROXY),
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_the_client_address_is_read_through_the_trusted_proxies(
    settings, proxies, forwarded, expected
):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected


def test_twenty_failures_from_one_address_lock_out_nobody_else(cast, behind_one_proxy):
    for number in range(20):
        assert sign_in(f"guess{number}@acme.test", "wrong", ATTACKER) == 200

    # The noisy address is stopped, whatever it sends, even with a spoofed header...
    assert sign_in("adam@platform.test", PASSWORD, ATTACKER) == 429
    assert sign_in("adam@platform.test", PASSWORD, ATTACKER, spoofed=ELSEWHERE) == 429
    # ...while everyone else behind the same proxy signs in.
    assert sign_in("bob@globex.test", PASSWORD, ELSEWHERE) == 302
    assert sign_in("alice@acme.test", PASSWORD, ELSEWHERE) == 302


def test_guessing_one_password_blocks_that_address_for_that_account_only(cast, behind_one_proxy):
    for _ in range(5):
        assert sign_in("alice@acme.test", "wrong", ATTACKER) == 200
    assert sign_in("alice@acme.test", PASSWORD, ATTACKER) == 429
    assert sign_in("alice@acme.test", PASSWORD, ELSEWHERE) == 302
    assert sign_in("bob@globex.test", PASSWORD, ATTACKER) == 302


def test_an_account_tried_from_many_addresses_is_stopped(cast, behind_one_proxy):
    behind_one_proxy.LOGIN_ATTEMPT_LIMIT = 2  # per pair 2, per account 20
    for number in range(10):
        for _ in range(2):
            assert sign_in("alice@acme.test", "wrong", f"192.0.2.{number + 1}") == 200
    assert sign_in("alice@acme.test", PASSWORD, ELSEWHERE) == 429
    assert sign_in("bob@globex.test", PASSWORD, ELSEWHERE) == 302


def test_without_a_trusted_proxy_a_forwarded_header_cannot_dodge_the_limit(cast, settings):
    settings.LOGIN_ATTEMPT_LIMIT = 2
    for number in range(8):  # the address limit: 4 × 2
        assert sign_in(f"guess{number}@acme.test", "wrong", f"192.0.2.{number + 1}") == 200
    assert sign_in("bob@globex.test", PASSWORD, ELSEWHERE) == 429


def reset(email: str, address: str) -> int:
    client = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=address)
    return client.post(reverse("password_reset"), {"email": email}).status_code


def test_password_reset_mails_are_throttled_per_account_and_per_address(cast, behind_one_proxy):
    answers = [reset("alice@acme.test", ATTACKER) for _ in range(8)]
    assert answers == [302, 302, 302, 429, 429, 429, 429, 429]
    assert [message.to for message in mail.outbox] == [["alice@acme.test"]] * 3

    # Another account from another address is not affected.
    assert reset("bob@globex.test", ELSEWHERE) == 302
    assert mail.outbox[-1].to == ["bob@globex.test"]

    # One address asking for many accounts' mails is stopped too (10 per hour), and an
    # unknown email counts like a known one: the answers say nothing about accounts.
    for number in range(9):
        assert reset(f"nobody{number}@acme.test", "192.0.2.50") == 302
    assert reset("bob@globex.test", "192.0.2.50") == 302
    assert reset("adam@platform.test", "192.0.2.50") == 429
    assert len(mail.outbox) == 5
