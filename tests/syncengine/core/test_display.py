"""What is shown of a partner request or response: secrets masked, URLs scrubbed."""

from __future__ import annotations

from syncengine.core.display import (
    MAX_DISPLAY_BODY_BYTES,
    request_for_display,
    response_for_display,
    scrub_url,
)
from syncengine.core.errors import PartnerResponse
from syncengine.core.masking import MASK
from syncengine.core.types import PreparedRequest

SECRET = "tok-5e7a"


def test_scrub_url_removes_credentials_and_secrets():
    assert scrub_url("https://bob:pw@api.test:8443/a?k=tok", ["tok"]) == (
        "https://••••••@api.test:8443/a?k=••••••"
    )
    assert scrub_url("https://api.test/a") == "https://api.test/a"


def test_a_request_is_shown_with_its_secrets_masked_everywhere():
    request = PreparedRequest(
        endpoint="add_users",
        method="POST",
        url=f"https://user:pw@api.partner.test/lists?key={SECRET}",
        headers=(("Authorization", f"Bearer {SECRET}"), ("X-Key", SECRET)),
        body=f'{{"token": "{SECRET}"}}'.encode(),
        batch_id="b-1",
        item_count=1,
        secrets=(SECRET,),
    )
    shown = request_for_display(request)
    assert SECRET not in repr(shown)
    assert shown["url"] == f"https://{MASK}@api.partner.test/lists?key={MASK}"
    assert shown["headers"] == [("Authorization", f"Bearer {MASK}"), ("X-Key", MASK)]
    assert shown["body"] == f'{{"token": "{MASK}"}}'
    assert (shown["body_truncated"], shown["batch_id"], shown["item_count"]) == (False, "b-1", 1)


def test_a_long_request_body_is_shown_cut_and_says_so():
    body = b"x" * (MAX_DISPLAY_BODY_BYTES + 1)
    request = PreparedRequest("add_users", "POST", "https://api.partner.test/", (), body)
    shown = request_for_display(request)
    assert len(shown["body"]) == MAX_DISPLAY_BODY_BYTES
    assert shown["body_truncated"] is True


def test_a_response_echoing_a_secret_is_shown_masked():
    request = PreparedRequest("add_users", "POST", "https://api.partner.test/", (), None)
    answer = PartnerResponse(
        status=401,
        reason="Unauthorized",
        headers=(("X-Echo", SECRET),),
        body=f"bad token {SECRET}".encode(),
        truncated=False,
        latency_ms=12.345,
        request=request,
        remote_address="203.0.113.7",
    )
    assert response_for_display(answer, [SECRET]) == {
        "status": 401,
        "reason": "Unauthorized",
        "headers": [("X-Echo", MASK)],
        "body": f"bad token {MASK}",
        "truncated": False,
        "latency_ms": 12.3,
        "remote_address": "203.0.113.7",
    }
