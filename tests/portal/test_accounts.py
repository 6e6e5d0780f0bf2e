"""Sign up, sign in (with attempt limiting), password reset, invitations, API tokens."""

import re

from django.core import mail
from django.test import Client
from django.urls import reverse

from portal.models import ApiToken, Membership, Organization, User
from tests.conftest import PASSWORD


def test_signup_creates_an_org_with_the_portal_off(db):
    client = Client()
    response = client.post(
        reverse("signup"),
        {
            "full_name": "Dana",
            "email": "Dana@Initech.test",
            "password": PASSWORD,
            "org_name": "Initech",
        },
        follow=True,
    )
    assert response.status_code == 200
    user = User.objects.get(email="dana@initech.test")
    membership = Membership.objects.get(user=user)
    assert membership.org.name == "Initech"
    assert membership.is_admin
    assert not membership.org.flag_enabled("developer_portal")
    assert b"Request access" in client.get(reverse("org_settings")).content


def test_signup_refuses_a_weak_password_and_creates_nothing(db):
    response = Client().post(
        reverse("signup"), {"email": "eve@x.test", "password": "123", "org_name": "Evil"}
    )
    assert b"too short" in response.content
    assert not User.objects.filter(email="eve@x.test").exists()
    assert not Organization.objects.filter(name="Evil").exists()


def test_each_role_lands_on_its_home(cast):
    expectations = {
        cast.alice: "/dashboard/",
        cast.bob: "/dashboard/",
        cast.rita: "/review/",
        cast.adam: "/platform/orgs/",
    }
    for user, home in expectations.items():
        client = Client()
        response = client.post(reverse("signin"), {"email": user.email, "password": PASSWORD})
        assert response.status_code == 302
        landing = client.get("/")
        assert landing.url == home, user.email
        assert client.get(landing.url).status_code == 200


def test_sign_in_is_limited_after_repeated_failures(cast, settings):
    settings.LOGIN_ATTEMPT_LIMIT = 3
    client = Client()
    for _ in range(3):
        response = client.post(reverse("signin"), {"email": "alice@acme.test", "password": "wrong"})
        assert b"do not match" in response.content
    blocked = client.post(reverse("signin"), {"email": "alice@acme.test", "password": PASSWORD})
    assert blocked.status_code == 429
    assert b"Too many failed sign-in attempts" in blocked.content
    assert "_auth_user_id" not in client.session


def test_password_reset_by_email(cast):
    client = Client()
    client.post(reverse("password_reset"), {"email": "alice@acme.test"})
    assert len(mail.outbox) == 1
    link = re.search(r"http://\S+/password-reset/\S+/\S+/", mail.outbox[0].body).group(0)
    form = client.get(link, follow=True)
    assert b"Choose a new password" in form.content
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a-brand-new-pass-42", "new_password2": "a-brand-new-pass-42"},
        follow=True,
    )
    assert b"Password changed" in done.content
    assert Client().login(email="alice@acme.test", password="a-brand-new-pass-42")


def test_invitation_link_makes_a_member(cast, client_for, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        client_for(cast.alice).post(
            reverse("org_invite"),
            {"email": "carol@acme.test", "role": "member", "is_developer": "on"},
        )
    link = re.search(r"/invitations/\S+/", mail.outbox[-1].body).group(0)
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
        {"email": "alice@acme.test", "password": PASSWORD, "csrfmiddlewaretoken": token.decode()},
    )
    assert response.status_code == 302
