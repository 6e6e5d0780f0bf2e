"""portal/params.py: the ids read from URLs, query strings and forms, and the return
addresses (`back`) a page may send the browser to. How each page treats what these refuse
is tested with the page (test_bad_numbers.py of each app)."""

from __future__ import annotations

import pytest

from portal.errors import ActionError
from portal.params import MAX_ID, local_url, optional_id, parse_id

SUPERSCRIPT_TWO = "²"
# "²" and "٣" pass `str.isdigit()` but not `int()`; a huge number passes `int()` but not
# the database.
NOT_NUMBERS = [SUPERSCRIPT_TWO, "٣", "-1", " 1", "1.0", "abc", "9" * 30]


@pytest.mark.parametrize("text", [*NOT_NUMBERS, "", None, str(MAX_ID + 1)])
def test_parse_id_takes_only_ascii_digits_in_the_bigint_range(text):
    assert parse_id(text) is None


def test_parse_id_reads_whole_numbers_and_its_maximum():
    assert parse_id("0") == 0 and parse_id("0042") == 42 and parse_id(str(MAX_ID)) == MAX_ID
    assert parse_id("3650", maximum=3650) == 3650 and parse_id("3651", maximum=3650) is None


def test_optional_id_names_the_field():
    assert optional_id(None, field="org") is None and optional_id("", field="org") is None
    with pytest.raises(ActionError) as refused:
        optional_id(SUPERSCRIPT_TWO, field="older_than_days", maximum=3650)
    assert refused.value.field == "older_than_days" and refused.value.status == 400
    assert "older_than_days must be a whole number from 0 to 3650" in refused.value.message


def test_local_url_needs_this_host(rf):
    request = rf.get("/")
    assert local_url(request, "/review/") == "/review/"
    assert local_url(request, "http://testserver/review/") == "http://testserver/review/"
    assert local_url(request, "http://other.test/review/") is None
    assert local_url(request, None) is None
