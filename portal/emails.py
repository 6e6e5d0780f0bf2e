"""Outgoing email, rendered from Jinja2 templates and sent only once the transaction commits."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)


def email_on_commit(*, to: Iterable[str], subject: str, template: str, context: dict) -> None:
    """Queue an email for after the current transaction; nothing is sent if it rolls back."""
    recipients = sorted({address for address in to if address})
    if not recipients:
        return
    body = render_to_string(template, {"site_url": settings.SITE_URL, **context})

    def send() -> None:
        # The change is already committed: a mail server being down must not turn it into
        # an error page, so the failure is logged for the operator instead.
        try:
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
        except OSError:
            logger.exception("could not send email %r", subject)
            return
        logger.info("sent email %r to %d recipient(s)", subject, len(recipients))

    transaction.on_commit(send)
