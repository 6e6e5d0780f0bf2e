"""Sign up (with email verification), sign in (with attempt limiting), password reset,
none of which tells whether an account exists; invitations, API tokens."""

import re

from django.test import Client
from django.urls import reverse

from portal.models import ApiToken, Membership, Organization, OutboundMail, User
from tests.conftest import PASSWORD
from tests.signin import (
    TOO_MANY,
    deliver_mails,
    link_in,
    post_signin,
    same_page,
    sign_in,
    signed_in,
)


def signup(client: Client, email: str, **fields: str):
    data = {"full_name": "Dana", "email": email, "password1": PASSWORD, "org_name": "Initech"}
    return client.post(reverse("signup"), {**data, **fields})


def test_signup_verifies_the_email_then_signs_in_to_a_new_org_with_the_portal_off(db):
    client = Client()
    response = signup(client, "Dana@Initech.test")
    assert response.status_code == 302
    assert response.url == reverse("account_email_verification_sent")
    assert not signed_in(client)
    user = User.objects.get(email="dana@initech.test")
    membership = Membership.objects.get(user=user)
    assert membership.org.name == "Initech" and membership.is_admin
    assert not membership.org.flag_enabled("developer_portal")

    # Unverified, the password alone does not sign in: the link is sent again instead.
    assert post_signin(Client(), "dana@initech.test", PASSWORD).url == reverse(
        "account_email_verification_sent"
    )
    [first] = deliver_mails()  # (sent again only after a cool-down)
    assert (
        first.to == ["dana@initech.test"] and first.subject == "Cohort Portal: Confirm your email"
    )
    link = link_in(first, "/accounts/confirm-email/")
    page = client.get(link)
    assert b"Confirm that <strong>dana@initech.test</strong>" in page.content
    # Confirmed in the browser that signed up: signed in there.
    assert client.post(link).status_code == 302
    assert signed_in(client)
    assert b"Request access" in client.get(reverse("org_settings")).content
    assert sign_in(Client(), "dana@initech.test", PASSWORD).url == "/"


def test_signup_refuses_a_weak_password_and_creates_nothing(db):
    response = signup(Client(), "eve@x.test", password1="123", org_name="Evil")
    assert b"too short" in response.content
    assert not User.objects.filter(email="eve@x.test").exists()
    assert not Organization.objects.filter(name="Evil").exists()
    assert not OutboundMail.objects.exists()


def test_signup_refuses_a_blank_org_name_naming_the_field(db):
    response = signup(Client(), "eve@x.test", org_name="   ")
    assert b'id="id_org_name-error"' in response.content
    assert not User.objects.filter(email="eve@x.test").exists()


def test_signing_up_with_a_taken_email_answers_as_for_a_new_one(cast):
    """No account enumeration: the page is the same; only the inbox learns the truth."""
    new = signup(Client(), "dana@initech.test")
    taken = signup(Client(), "Alice@Acme.test", org_name="Acme Again")
    assert (taken.status_code, taken.url) == (new.status_code, new.url)
    assert same_page(Client().get(taken.url), Client().get(new.url))
    assert not Organization.objects.filter(name="Acme Again").exists()
    assert User.objects.filter(email__iexact="alice@acme.test").count() == 1
    subjects = {m.to[0]: m.subject for m in deliver_mails()}
    assert subjects == {
        "dana@initech.test": "Cohort Portal: Confirm your email",
        "alice@acme.test": "Cohort Portal: You already have an account",
    }


def test_each_role_lands_on_its_home(cast):
    expectations = {
        cast.alice: "/dashboard/",
        cast.bob: "/dashboard/",
        cast.rita: "/review/",
        cast.adam: "/platform/orgs/",
    }
    for user, home in expectations.items():
        client = Client()
        response = sign_in(client, user.email, PASSWORD)
        assert response.status_code == 302, user.email
        landing = client.get("/")
        assert landing.url == home, user.email
        assert client.get(landing.url).status_code == 200


def test_sign_in_is_limited_after_repeated_failures(cast, settings):
    settings.ACCOUNT_RATE_LIMITS = {"login_failed": "20/15m/ip,3/15m/key"}
    client = Client()
    for _ in range(3):
        response = post_signin(client, "alice@acme.test", "wrong")
        assert b"That email and password do not match an account." in response.content
    blocked = post_signin(client, "alice@acme.test", PASSWORD)
    assert TOO_MANY in blocked.content
    assert not signed_in(client)


def test_password_reset_by_email(cast):
    client = Client()
    sent = client.post(reverse("password_reset"), {"email": "alice@acme.test"})
    assert sent.url == reverse("account_reset_password_done")
    [message] = deliver_mails()
    assert message.subject == "Cohort Portal: Reset your password"
    form = client.get(link_in(message, "/accounts/password/reset/key/"), follow=True)
    assert b"Choose a new password" in form.content
    done = client.post(
        form.redirect_chain[-1][0],
        {"password1": "a-brand-new-pass-42", "password2": "a-brand-new-pass-42"},
        follow=True,
    )
    assert b"Password changed" in done.content
    assert sign_in(Client(), "alice@acme.test", "a-brand-new-pass-42").status_code == 302
    assert b"do not match" in post_signin(Client(), "alice@acme.test", PASSWORD).content


def test_password_reset_for_an_unknown_email_answers_as_for_a_known_one(cast):
    known = Client().post(reverse("password_reset"), {"email": "alice@acme.test"})
    unknown = Client().post(reverse("password_reset"), {"email": "nobody@acme.test"})
    assert (unknown.status_code, unknown.url) == (known.status_code, known.url)
    assert same_page(Client().get(unknown.url), Client().get(known.url))
    subjects = {m.to[0]: m.subject for m in deliver_mails()}
    assert subjects == {
        "alice@acme.test": "Cohort Portal: Reset your password",
        "nobody@acme.test": "Cohort Portal: Password reset asked for",
    }


def test_signing_out_takes_a_post(cast):
    client = Client()
    sign_in(client, "alice@acme.test", PASSWORD)
    assert client.post(reverse("signout")).url == reverse("signin")
    assert not signed_in(client)


def test_invitation_link_makes_a_member(cast, client_for, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        client_for(cast.alice).post(
            reverse("org_invite"),
            {"email": "carol@acme.test", "role": "member", "is_developer": "on"},
        )
    link = re.search(r"/invitations/\S+/", deliver_mails()[-1].body).group(0)
    guest = Client()
    page = guest.get(link)
    assert b"Join Acme Audiences" in page.content
    guest.post(link, {"full_name": "Carol", "password": PASSWORD})
    carol = User.objects.get(email="carol@acme.test")
    membership = Membership.objects.get(user=carol)
    assert membership.org == cast.acme and membership.is_developer and not membership.is_admin
    # The link works once.
    assert Client().get(link).status_code == 404


def test_only_org_admins_invite(cast, client_for):
    client_for(cast.alan).post(reverse("org_invite"), {"email": "x@acme.test", "role": "admin"})
    assert not cast.acme.invitations.exists()


def test_the_last_admin_cannot_be_demoted(cast, client_for):
    membership = Membership.objects.get(user=cast.alice)
    response = client_for(cast.alice).post(
        reverse("org_member_update", args=[membership.pk]), {"role": "member"}, follow=True
    )
    assert b"at least one admin" in response.content
    membership.refresh_from_db()
    assert membership.is_admin


def test_api_token_is_shown_once_and_stored_hashed(cast, client_for):
    client = client_for(cast.alice)
    page = client.post(reverse("account_tokens"), {"name": "CI"})
    raw = re.search(rb'id="new-token">(cp_[^<]+)<', page.content).group(1).decode()
    token = ApiToken.objects.get(user=cast.alice)
    assert raw not in (token.digest, token.prefix)
    assert raw.encode() not in client.get(reverse("account_tokens")).content
    me = Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Token {raw}")
    assert me.status_code == 200
    assert me.json()["current_org_id"] == cast.acme.pk
    client.post(reverse("token_revoke", args=[token.pk]))
    revoked = Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Token {raw}")
    assert revoked.status_code == 401
    assert revoked.json()["error"]["message"] == "Invalid or revoked API token."


def test_pages_carry_a_strict_csp_and_no_inline_scripts(cast, client_for):
    response = client_for(cast.alice).get(reverse("dashboard"))
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "default-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert not re.search(rb"<script(?![^>]*\bsrc=)[^>]*>", response.content)


def test_forms_require_csrf(cast):
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.bob)
    assert client.post(reverse("org_request_access"), {}).status_code == 403


def test_rendered_forms_carry_a_working_csrf_token(cast):
    client = Client(enforce_csrf_checks=True)
    page = client.get(reverse("signin"))
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content).group(1)
    response = client.post(
        reverse("signin"),
        {"login": "alice@acme.test", "password": PASSWORD, "csrfmiddlewaretoken": token.decode()},
    )
    assert response.status_code == 302


def test_unknown_or_used_links_say_they_expired(cast):
    bogus_confirm = Client().get("/accounts/confirm-email/not-a-key/")
    assert b"This link has expired" in bogus_confirm.content
    bogus_reset = Client().get("/accounts/password/reset/key/1-not-a-key/", follow=True)
    assert b"This link has expired" in bogus_reset.content
