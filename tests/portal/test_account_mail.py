"""Account mails leave through a real Celery worker, never inside the request: the
request stores the mail (its body encrypted: it carries one-time links) and the task is
handed the row's id alone."""

from __future__ import annotations

from celery.signals import before_task_publish
from django.core import mail
from django.db import connection
from django.test import Client
from django.urls import reverse

from portal import mail as outbound
from portal.models import MailStatus, OutboundMail
from tests.conftest import PASSWORD
from tests.waiting import wait_until


def test_the_verification_mail_is_sent_by_the_worker_given_only_an_id(
    celery_worker, finished_tasks
):
    published: list[tuple] = []

    def record(sender=None, body=None, **_):
        if sender == "portal.send_mail":
            published.append(body[0])

    before_task_publish.connect(record, weak=False)
    try:
        response = Client().post(
            reverse("signup"),
            {"email": "dana@initech.test", "password1": PASSWORD, "org_name": "Initech"},
        )
    finally:
        before_task_publish.disconnect(record)
    assert response.url == reverse("account_email_verification_sent")

    stored = OutboundMail.objects.get()
    # The task's arguments: the id, nothing else (no address, no link).
    assert [tuple(arguments) for arguments in published] == [(stored.pk,)]
    sent = wait_until(
        lambda: OutboundMail.objects.get().status == MailStatus.SENT and mail.outbox,
        30,
        lambda: f"the worker did not send the mail: {OutboundMail.objects.get()!r}",
    )
    [message] = sent
    assert message.to == ["dana@initech.test"]
    assert "/accounts/confirm-email/" in message.body
    # The mail is marked sent inside the task, a moment before the task itself ends.
    wait_until(lambda: finished_tasks, 30, "the worker sent the mail but its task never ended")
    assert list(finished_tasks.values()) == ["SUCCESS"]

    # At rest, the body (and so its link) is ciphertext.
    with connection.cursor() as cursor:
        cursor.execute("SELECT body FROM portal_outboundmail WHERE id = %s", [stored.pk])
        assert "confirm-email" not in cursor.fetchone()[0]


def test_a_mail_server_that_is_down_is_tried_again_then_given_up_on(db, settings):
    settings.MAILERS = {"default": {"BACKEND": "tests.portal.test_account_mail.RefusingBackend"}}
    queued = outbound.mail_queue(to=["a@x.test"], subject="Hi", body="Hello")
    for attempt in range(1, outbound.MAX_ATTEMPTS):
        assert outbound.mail_send(queued.pk) == "queued"
        queued.refresh_from_db()
        assert queued.attempts == attempt and "refused" in queued.last_error
    assert outbound.mail_send(queued.pk) == MailStatus.FAILED
    assert outbound.mail_send(queued.pk) is None  # finished: nothing more happens


class RefusingBackend:
    def __init__(self, *args, **kwargs) -> None:
        pass

    def send_messages(self, messages) -> int:
        raise ConnectionRefusedError("connection refused")
