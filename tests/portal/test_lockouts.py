"""Sign-in failures and password-reset mails are limited per account and per client
address, the address read through the configured number of trusted proxies: one noisy
address never locks out other people, and nobody can lock an account out for everyone
with a handful of wrong passwords."""

from __future__ import annotations

import pytest
from allauth.account.adapter import get_adapter
from django.test import Client, RequestFactory
from django.urls import reverse

from portal.models import OutboundMail
from tests.conftest import PASSWORD
from tests.signin import TOO_MANY, deliver_mails

PROXY = "10.0.0.1"  # the TLS proxy: every request reaches the portal from it
ATTACKER = "203.0.113.7"
ELSEWHERE = "198.51.100.9"


@pytest.fixture
def behind_one_proxy(settings):
    settings.TRUSTED_PROXY_COUNT = settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    return settings


def sign_in(email: str, password: str, address: str, *, spoofed: str = "") -> str:
    """A sign-in through the proxy from `address` (a client may send its own
    X-Forwarded-For, which the proxy appends to): "in", "refused" (wrong password) or
    "blocked" (too many failures)."""
    forwarded = f"{spoofed}, {address}" if spoofed else address
    response = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded).post(
        reverse("signin"), {"login": email, "password": password}
    )
    if TOO_MANY in response.content:
        return "blocked"
    if response.status_code == 302:
        return "in"
    assert b"do not match" in response.content
    return "refused"


@pytest.mark.parametrize(
    "proxies, forwarded, expected",
    [
        (0, "203.0.113.7", PROXY),  # no proxy configured: the header proves nothing
        (1, "203.0.113.7", "203.0.113.7"),
        (1, "1.2.3.4, 203.0.113.7", "203.0.113.7"),  # the client wrote 1.2.3.4 itself
        (2, "1.2.3.4, 203.0.113.7, 10.0.0.2", "203.0.113.7"),
        (1, "", PROXY),  # straight to the portal, not through the proxy
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_the_client_address_is_read_through_the_trusted_proxies(
    settings, proxies, forwarded, expected
):
    """One project setting, TRUSTED_PROXY_COUNT, is the number allauth reads too."""
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = proxies
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    request = RequestFactory().get("/", REMOTE_ADDR=PROXY, **headers)
    assert get_adapter().get_client_ip(request) == expected


def test_allauth_reads_the_project_proxy_count():
    from django.conf import settings

    assert settings.ALLAUTH_TRUSTED_PROXY_COUNT == settings.TRUSTED_PROXY_COUNT


def test_twenty_failures_from_one_address_lock_out_nobody_else(cast, behind_one_proxy):
    for number in range(20):
        assert sign_in(f"guess{number}@acme.test", "wrong", ATTACKER) == "refused"

    # The noisy address is stopped, whatever it sends, even with a spoofed header...
    assert sign_in("bob@globex.test", PASSWORD, ATTACKER) == "blocked"
    assert sign_in("bob@globex.test", PASSWORD, ATTACKER, spoofed=ELSEWHERE) == "blocked"
    # ...while everyone else behind the same proxy signs in.
    assert sign_in("bob@globex.test", PASSWORD, ELSEWHERE) == "in"
    assert sign_in("alice@acme.test", PASSWORD, ELSEWHERE) == "in"


def test_guessing_one_password_does_not_lock_its_owner_out(cast, behind_one_proxy):
    """An address guessing one account's password is stopped by the per-address limit
    long before the per-account limit (10× the sign-in limit) would stop the owner."""
    for _ in range(20):
        assert sign_in("alice@acme.test", "wrong", ATTACKER) == "refused"
    assert sign_in("alice@acme.test", PASSWORD, ATTACKER) == "blocked"
    assert sign_in("alice@acme.test", PASSWORD, ELSEWHERE) == "in"


def test_an_account_tried_from_many_addresses_is_stopped(cast, behind_one_proxy):
    behind_one_proxy.ACCOUNT_RATE_LIMITS = {"login_failed": "8/15m/ip,20/15m/key"}
    for number in range(10):
        for _ in range(2):
            assert sign_in("alice@acme.test", "wrong", f"192.0.2.{number + 1}") == "refused"
    assert sign_in("alice@acme.test", PASSWORD, ELSEWHERE) == "blocked"
    assert sign_in("bob@globex.test", PASSWORD, ELSEWHERE) == "in"


def test_without_a_trusted_proxy_a_forwarded_header_cannot_dodge_the_limit(cast, settings):
    settings.ACCOUNT_RATE_LIMITS = {"login_failed": "8/15m/ip,20/15m/key"}
    for number in range(8):
        assert sign_in(f"guess{number}@acme.test", "wrong", f"192.0.2.{number + 1}") == "refused"
    assert sign_in("bob@globex.test", PASSWORD, ELSEWHERE) == "blocked"


def test_the_limits_are_the_configured_multiples_of_the_sign_in_limit(settings):
    limit, window = settings.LOGIN_ATTEMPT_LIMIT, settings.LOGIN_ATTEMPT_WINDOW_SECONDS
    assert settings.ACCOUNT_RATE_LIMITS["login_failed"] == (
        f"{limit * 4}/{window}s/ip,{limit * 10}/{window}s/key"
    )


def reset(email: str, address: str) -> int:
    client = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=address)
    return client.post(reverse("password_reset"), {"email": email}).status_code


def test_password_reset_mails_are_throttled_per_account_and_per_address(cast, behind_one_proxy):
    answers = [reset("alice@acme.test", ATTACKER) for _ in range(8)]
    assert answers == [302, 302, 302, 429, 429, 429, 429, 429]
    assert [message.to for message in deliver_mails()] == [["alice@acme.test"]] * 3

    # Another account from another address is not affected.
    assert reset("bob@globex.test", ELSEWHERE) == 302
    assert deliver_mails()[-1].to == ["bob@globex.test"]

    # One address asking for many accounts' mails is stopped too (10 per hour), and an
    # unknown email counts like a known one: the answers say nothing about accounts.
    for number in range(9):
        assert reset(f"nobody{number}@acme.test", "192.0.2.50") == 302
    assert reset("bob@globex.test", "192.0.2.50") == 302
    assert reset("adam@platform.test", "192.0.2.50") == 429
    assert OutboundMail.objects.count() == 3 + 1 + 10
