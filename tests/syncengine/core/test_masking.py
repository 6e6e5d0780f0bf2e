"""Secrets are masked under every spelling a request can give them."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

from syncengine.core.masking import MASK, mask_headers, mask_text, secret_forms

SECRET = 'pa"ss/wörd'


def test_every_spelling_of_a_secret_is_masked():
    spellings = [
        SECRET,
        quote(SECRET, safe=""),
        quote(SECRET, safe="/:@?"),
        json.dumps(SECRET)[1:-1],
        json.dumps(SECRET, ensure_ascii=False)[1:-1],
        base64.b64encode(SECRET.encode()).decode(),
    ]
    for spelling in spellings:
        assert mask_text(f"<{spelling}>", [SECRET]) == f"<{MASK}>", spelling


def test_a_secret_containing_another_is_masked_whole():
    forms = secret_forms(["ab", "abcd"])
    assert forms.index("abcd") < forms.index("ab")
    assert mask_text("x abcd x", ["ab", "abcd"]) == f"x {MASK} x"


def test_an_authorization_header_keeps_only_its_scheme():
    headers = [("Authorization", "Bearer anything"), ("X-Key", f"k={SECRET}"), ("Accept", "*/*")]
    assert mask_headers(headers, [SECRET]) == [
        ("Authorization", f"Bearer {MASK}"),
        ("X-Key", f"k={MASK}"),
        ("Accept", "*/*"),
    ]
