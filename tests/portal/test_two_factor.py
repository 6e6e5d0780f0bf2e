"""Two-factor sign-in (allauth's TOTP with recovery codes): offered to everyone on the
account page, required of reviewers and platform admins, who are sent to set it up before
any other page."""

from __future__ import annotations

import re

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.test import Client
from django.urls import reverse

from portal import actions
from portal.models import StaffRole, User
from portal.two_factor import ENROL_MESSAGE
from tests.conftest import PASSWORD, STAFF_TOTP_SECRET
from tests.signin import lasting, post_signin, sign_in, signed_in


def code_for(secret: str, *, step: int = 0) -> str:
    """The code an authenticator app with `secret` shows (`step` periods from now), taken
    where it lasts long enough to be checked."""
    import time

    return lasting(lambda: format_hotp_value(hotp_value(secret, int(time.time()) // 30 + step)))


def confirm_password(client: Client, page: str) -> None:
    """Two-factor settings ask for the password again first (allauth's reauthentication,
    good for a few minutes)."""
    asked = client.get(page)
    assert asked.url.startswith(reverse("account_reauthenticate")), asked
    assert b"Confirm it is you" in client.get(asked.url).content
    assert client.post(asked.url, {"password": PASSWORD}).url == page


def enrol(client: Client) -> tuple[str, list[str]]:
    """Set up an authenticator app from the page, as a person does; the key and the
    recovery codes shown once."""
    confirm_password(client, reverse("mfa_activate_totp"))
    page = client.get(reverse("mfa_activate_totp"))
    assert page.status_code == 200
    secret = re.search(rb'id="totp-secret">([A-Z2-7]+)<', page.content).group(1).decode()
    assert b'src="data:image/svg+xml;base64,' in page.content  # the QR code, no CDN
    done = client.post(reverse("mfa_activate_totp"), {"code": code_for(secret)})
    assert done.url == reverse("mfa_view_recovery_codes")
    shown = client.get(done.url).content
    codes = re.search(rb'id="recovery-codes"[^>]*>([^<]+)<', shown).group(1).decode().split()
    assert len(codes) == 10
    # Shown once: the next visit says how many are left, not what they are.
    again = client.get(done.url).content
    assert codes[0].encode() not in again and b"10 of 10 recovery codes are unused" in again
    return secret, codes


def test_a_partner_enrols_then_signs_in_with_a_code_and_with_a_recovery_code(cast):
    client = Client()
    sign_in(client, "alice@acme.test", PASSWORD)
    assert b"Set up an authenticator app" in client.get(reverse("account")).content
    secret, codes = enrol(client)
    stored = Authenticator.objects.get(user=cast.alice, type=Authenticator.Type.TOTP)
    assert secret not in str(stored.data)  # encrypted at rest
    assert b'<span class="badge badge-success">On</span>' in client.get(reverse("account")).content

    # The password alone no longer signs in: a code is asked for.
    later = Client()
    assert post_signin(later, "alice@acme.test", PASSWORD).url == reverse("mfa_authenticate")
    assert not signed_in(later)
    wrong = later.post(reverse("mfa_authenticate"), {"code": "000000"})
    assert b"That code is not right" in wrong.content and not signed_in(later)
    assert later.post(reverse("mfa_authenticate"), {"code": code_for(secret)}).url == "/"
    assert signed_in(later)

    # A recovery code works once.
    lost_phone = Client()
    assert sign_in(lost_phone, "alice@acme.test", PASSWORD, code=codes[0]).url == "/"
    reused = Client()
    response = sign_in(reused, "alice@acme.test", PASSWORD, code=codes[0])
    assert b"That code is not right" in response.content and not signed_in(reused)


def test_a_code_works_once(cast):
    first, second = Client(), Client()
    code = code_for(STAFF_TOTP_SECRET)
    assert sign_in(first, "rita@platform.test", PASSWORD, code=code).status_code == 302
    assert signed_in(first)
    replay = sign_in(second, "rita@platform.test", PASSWORD, code=code)
    assert b"That code is not right" in replay.content and not signed_in(second)


def test_recovery_codes_are_regenerated_and_two_factor_turned_off_with_confirmation(cast):
    client = Client()
    sign_in(client, "alice@acme.test", PASSWORD)
    _, old_codes = enrol(client)

    confirm = client.get(reverse("mfa_generate_recovery_codes"))
    assert b"The codes you have now stop working" in confirm.content
    assert client.post(reverse("mfa_generate_recovery_codes")).url == reverse(
        "mfa_view_recovery_codes"
    )
    shown = client.get(reverse("mfa_view_recovery_codes")).content
    new_codes = re.search(rb'id="recovery-codes"[^>]*>([^<]+)<', shown).group(1).decode().split()
    assert set(new_codes).isdisjoint(old_codes)

    page = client.get(reverse("mfa_deactivate_totp"))
    assert b"Turn off two-factor sign-in?" in page.content  # a confirmation, then a POST
    assert Authenticator.objects.filter(user=cast.alice, type="totp").exists()
    client.post(reverse("mfa_deactivate_totp"))
    assert not Authenticator.objects.filter(user=cast.alice).exists()
    assert post_signin(Client(), "alice@acme.test", PASSWORD).url == "/"


def test_staff_cannot_turn_two_factor_off(cast):
    client = Client()
    sign_in(client, "rita@platform.test", PASSWORD)
    assert b"it cannot be turned off" in client.get(reverse("account")).content
    confirm_password(client, reverse("mfa_deactivate_totp"))
    refused = client.post(reverse("mfa_deactivate_totp"))
    assert b"Reviewers and platform admins must keep two-factor sign-in on." in refused.content
    assert Authenticator.objects.filter(user=cast.rita, type="totp").exists()


@pytest.mark.parametrize(
    "role, staff_page",
    [(StaffRole.REVIEWER, "review_queue"), (StaffRole.PLATFORM_ADMIN, "platform_orgs")],
)
def test_staff_without_two_factor_set_it_up_before_any_staff_page(cast, role, staff_page):
    newcomer = User.objects.create_user("nina@platform.test", PASSWORD)
    actions.email_mark_verified(user=newcomer)
    actions.staff_role_set(acting_user=cast.adam, user=newcomer, role=role)
    client = Client()
    assert post_signin(client, "nina@platform.test", PASSWORD).status_code == 302
    for page in (reverse(staff_page), "/", reverse("account"), reverse("dashboard")):
        sent = client.get(page)
        assert sent.url == reverse("mfa_activate_totp"), page
    api = client.get("/api/v1/reviews/")
    assert api.status_code == 403 and api.json()["error"]["code"] == "two_factor_required"
    asked = client.get(client.get(reverse("mfa_activate_totp")).url)
    assert ENROL_MESSAGE.encode() in asked.content

    enrol(client)
    assert client.get(reverse(staff_page)).status_code == 200


def test_partners_are_offered_two_factor_but_not_made_to(cast):
    client = Client()
    sign_in(client, "alice@acme.test", PASSWORD)
    assert client.get(reverse("dashboard")).status_code == 200
    section = client.get(reverse("account")).content
    assert b"Protect your account with a code from an authenticator app" in section
