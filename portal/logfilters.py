"""Filters of the log configuration (settings.LOGGING)."""

from __future__ import annotations

import logging

CLIENT_ERRORS = range(400, 500)


class ExpectedRefusals(logging.Filter):
    """A 403 or 404 is an answer the portal means to give (someone without the portal
    opened it, an id of another organisation was tried): its one line is enough. Django
    logs it with the exception's traceback, which in a terminal reads as a crash."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) in CLIENT_ERRORS:
            record.exc_info = None
            record.exc_text = None
        return True
