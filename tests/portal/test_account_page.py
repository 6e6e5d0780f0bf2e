"""The account page: a signed-in person changes their name, email and password."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from portal.models import AuditEvent, User
from tests.conftest import PASSWORD
from tests.signin import deliver_mails

NEW_PASSWORD = "another-long-passphrase-2026"


def test_the_page_is_for_signed_in_people(cast, client_for):
    assert Client().get(reverse("account")).status_code == 302
    page = client_for(cast.alice).get(reverse("account")).content.decode()
    for heading in ("Name", "Email", "Password"):
        assert f">{heading}</h2>" in page
    assert 'value="Alice Partner"' in page


def test_a_person_renames_themselves(cast, client_for):
    response = client_for(cast.alice).post(
        reverse("account"), {"form": "name", "full_name": "  Alice P. Partner "}, follow=True
    )
    assert b"Your name is saved." in response.content
    cast.alice.refresh_from_db()
    assert cast.alice.full_name == "Alice P. Partner"
    assert AuditEvent.objects.filter(action="account.renamed", actor=cast.alice).exists()


def test_changing_email_needs_the_password_and_a_free_address(
    cast, client_for, django_capture_on_commit_callbacks
):
    alice = client_for(cast.alice)
    url = reverse("account")
    wrong = alice.post(
        url, {"form": "email", "email": "alice@new.test", "current_password": "nope"}
    )
    assert wrong.status_code == 400
    assert b"That is not your current password." in wrong.content
    taken = alice.post(
        url, {"form": "email", "email": "BOB@globex.test", "current_password": PASSWORD}
    )
    assert b"Another account uses this email." in taken.content
    bad = alice.post(url, {"form": "email", "email": "not-an-email", "current_password": PASSWORD})
    assert bad.status_code == 400
    cast.alice.refresh_from_db()
    assert cast.alice.email == "alice@acme.test"

    with django_capture_on_commit_callbacks(execute=True):
        done = alice.post(
            url,
            {"form": "email", "email": "Alice@New.test", "current_password": PASSWORD},
            follow=True,
        )
    assert b"Your email is changed" in done.content
    cast.alice.refresh_from_db()
    assert cast.alice.email == "alice@new.test"
    assert deliver_mails()[-1].to == ["alice@acme.test"]
    assert "alice@new.test" in deliver_mails()[-1].body
    assert Client().login(email="alice@new.test", password=PASSWORD)


def test_changing_password_keeps_this_session(cast, client_for):
    alice = client_for(cast.alice)
    url = reverse("account")
    data = {
        "form": "password",
        "current_password": PASSWORD,
        "new_password": NEW_PASSWORD,
        "confirmation": NEW_PASSWORD,
    }
    mismatch = alice.post(url, {**data, "confirmation": "something-else-entirely"})
    assert b"The two new passwords differ." in mismatch.content
    weak = alice.post(url, {**data, "new_password": "123", "confirmation": "123"})
    assert b"too short" in weak.content
    wrong = alice.post(url, {**data, "current_password": "guess"})
    assert b"That is not your current password." in wrong.content
    assert User.objects.get(pk=cast.alice.pk).check_password(PASSWORD)

    done = alice.post(url, data, follow=True)
    assert b"Your password is changed." in done.content
    assert User.objects.get(pk=cast.alice.pk).check_password(NEW_PASSWORD)
    assert alice.get(reverse("account")).status_code == 200  # still signed in
    assert AuditEvent.objects.filter(action="account.password_changed").count() == 1
    assert NEW_PASSWORD not in str(list(AuditEvent.objects.values("before", "after")))
