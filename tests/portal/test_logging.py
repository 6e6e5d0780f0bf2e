"""What the terminal shows: an expected refusal is one line, never a traceback."""

from __future__ import annotations

import logging

from django.urls import reverse


def test_a_403_is_logged_in_one_line_without_its_traceback(cast, client_for, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client_for(cast.bob).get(reverse("portal_home"))
    assert response.status_code == 403
    refusals = [r for r in caplog.records if r.name == "django.request"]
    assert [r.getMessage() for r in refusals] == ["Forbidden (Permission denied): /portal/"]
    assert all(r.exc_info is None for r in refusals)
    assert "Traceback" not in caplog.text


def test_a_500_keeps_its_traceback(caplog):
    from portal.logfilters import ExpectedRefusals

    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        record = logging.LogRecord(
            "django.request",
            logging.ERROR,
            __file__,
            1,
            "Internal Server Error",
            (),
            sys.exc_info(),
        )
    record.status_code = 500
    assert ExpectedRefusals().filter(record)
    assert record.exc_info is not None
