"""The portal's notices (invitations, reviews, access requests, paused syncs), rendered from
Jinja2 templates and sent by a worker once the transaction commits (`portal.mail`)."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.template.loader import render_to_string

from portal.mail import mail_queue


def email_on_commit(*, to: Iterable[str], subject: str, template: str, context: dict) -> None:
    """Store an email and hand it to a worker after the current transaction; nothing is
    stored or sent if it rolls back. A mail server that is down never turns the change
    into an error page: the worker tries again."""
    body = render_to_string(template, {"site_url": settings.SITE_URL, **context})
    mail_queue(to=to, subject=subject, body=body)
