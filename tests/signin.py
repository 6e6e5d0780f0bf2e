"""Signing in through allauth's pages, as a browser would, and reading the mails sent.

Mails are stored and sent by a worker (`portal.mail`); `deliver_mails` runs the worker's
own step (`mail_send`) for the mails still queued, for tests that are about the mail's
content rather than the worker (tests/portal/test_account_mail.py covers that).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from allauth.mfa import app_settings as mfa_settings
from django.core import mail
from django.test import Client
from django.urls import reverse

from portal.accounts import totp_code_now
from portal.mail import mail_send
from portal.models import MailStatus, OutboundMail, User
from tests.waiting import wait_until

TOO_MANY = b"Too many failed sign-in attempts"


def post_signin(client: Client, email: str, password: str):
    return client.post(reverse("signin"), {"login": email, "password": password})


def sign_in(client: Client, email: str, password: str, *, code: str | None = None):
    """Password, then (for people with an authenticator app) the code; the last response.
    Without `code`, the one the app shows now is typed."""
    response = post_signin(client, email, password)
    if response.status_code == 302 and response.url == reverse("mfa_authenticate"):
        user = User.objects.get(email=email)
        response = client.post(reverse("mfa_authenticate"), {"code": code or lasting_code(user)})
    return response


def lasting_code(user: User) -> str:
    """The code the app shows now, taken at least two seconds before its period ends: one
    typed in its last moments may be refused by the time it is checked."""
    return lasting(lambda: totp_code_now(user))


def lasting(code_now: Callable[[], str]) -> str:
    """`code_now()` (a code of the current period) once at least two seconds of the period
    are left."""
    period = mfa_settings.TOTP_PERIOD
    wait_until(
        lambda: period - time.time() % period > 2, period, "no code lasted two seconds", every=0.05
    )
    return code_now()


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def deliver_mails() -> list:
    """Send every queued account mail now; every mail sent so far (`mail.outbox`)."""
    queued = OutboundMail.objects.filter(status=MailStatus.QUEUED).order_by("pk")
    for pk in queued.values_list("pk", flat=True):  # in the order they were written
        mail_send(pk)
    return mail.outbox


def link_in(message, pattern: str) -> str:
    found = re.search(rf"https?://\S+{pattern}\S*", message.body)
    assert found, message.body
    return found.group(0)


def same_page(one, other) -> bool:
    """The two answers are the same but for their one-time values (CSP nonce, CSRF)."""

    def plain(response) -> bytes:
        return re.sub(rb'(nonce|value|data-csrf)="[^"]*"', b"", response.content)

    return one.status_code == other.status_code and plain(one) == plain(other)
