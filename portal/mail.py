"""Every mail (allauth's account mails, the portal's notices) leaves through a Celery
worker, never inside the request.

    mail_queue ──(row committed)──→ portal.send_mail(mail_id) ──→ the mail backend
        │                                  │
        └── broker down: stays queued ─────┴── SMTP down: again later, at most MAX_ATTEMPTS

The message is stored first (`OutboundMail`, the body encrypted: it carries one-time
links) and the task receives only the row's id. A broker that cannot take the message
does not fail the request (signing up or asking for a reset must not depend on Redis):
the row stays queued and the jobs sweep hands it to the broker again once it answers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from portal.jobs import BROKER_ERRORS, QUEUED
from portal.models import MailStatus, OutboundMail

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
RETRY_BASE_SECONDS = 30
MAX_ERROR_LENGTH = 500


def mail_queue(*, to: Iterable[str], subject: str, body: str) -> OutboundMail | None:
    """Store a mail and hand it to a worker once the current transaction commits."""
    recipients = sorted({address for address in to if address})
    if not recipients:
        return None
    mail = OutboundMail.objects.create(to=recipients, subject=subject[:255], body=body)
    transaction.on_commit(lambda: _enqueue(mail.pk))
    return mail


def _enqueue(mail_id: int, *, countdown: float = 0) -> bool:
    from portal.tasks import send_mail

    try:
        send_mail.apply_async((mail_id,), countdown=countdown)
    except BROKER_ERRORS as error:
        logger.warning("mail %s stays queued, the broker is unreachable: %r", mail_id, error)
        return False
    return True


def mail_send(mail_id: int) -> str | None:
    """Send one stored mail (the worker's side). Returns the status it ended in, or None
    when another worker had it or it was already finished."""
    token = OutboundMail.claim(mail_id)
    if token is None:
        return None
    mail = OutboundMail.objects.get(pk=mail_id)
    attempts = mail.attempts + 1
    message = EmailMessage(mail.subject, mail.body, settings.DEFAULT_FROM_EMAIL, mail.to)
    try:
        message.send()
    except OSError as error:
        detail = f"{type(error).__name__}: {error}"[:MAX_ERROR_LENGTH]
        if attempts >= MAX_ATTEMPTS:
            OutboundMail.finish(
                mail_id, token, status=MailStatus.FAILED, attempts=attempts, last_error=detail
            )
            logger.error("mail %s not sent after %d attempts: %s", mail_id, attempts, detail)
            return MailStatus.FAILED
        OutboundMail.objects.filter(pk=mail_id, lease_token=token).update(
            status=QUEUED, lease_expires_at=None, attempts=attempts, last_error=detail
        )
        delay = RETRY_BASE_SECONDS * 2 ** (attempts - 1)
        logger.warning("mail %s not sent (%s); again in %ds", mail_id, detail, delay)
        _enqueue(mail_id, countdown=delay)
        return QUEUED
    OutboundMail.finish(mail_id, token, status=MailStatus.SENT, attempts=attempts)
    logger.info("sent mail %s to %d recipient(s)", mail_id, len(mail.to))
    return MailStatus.SENT


def requeue(mail_id: int) -> bool:
    """Hand a mail no worker is on (never queued, or its worker died) to the broker again;
    one that used up its attempts is closed as failed."""
    mail = OutboundMail.objects.filter(pk=mail_id).first()
    if mail is None or mail.is_finished:
        return False
    if mail.attempts >= MAX_ATTEMPTS:
        return OutboundMail.finish(
            mail_id, None, status=MailStatus.FAILED, last_error="no worker sent it"
        )
    # A fresh created_at restarts the queue patience, so the sweep waits for this try.
    OutboundMail.objects.filter(pk=mail_id).update(
        status=QUEUED,
        lease_expires_at=None,
        created_at=timezone.now(),
        attempts=mail.attempts + 1,
    )
    _enqueue(mail_id)
    return True


def delete_finished(older_than: timedelta) -> int:
    """Forget mails sent or given up on long ago (housekeeping): their links expired."""
    deleted, _ = OutboundMail.objects.filter(
        status__in=OutboundMail.FINISHED_STATUSES, finished_at__lt=timezone.now() - older_than
    ).delete()
    return deleted
