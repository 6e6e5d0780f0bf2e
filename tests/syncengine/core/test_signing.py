"""Request signatures: the documented format, round trips and every way to fail."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from syncengine.core.signing import (
    SignatureError,
    compute_signature,
    parse_signature_header,
    sign,
    verify,
)

SECRET = "whsec_test"
BODY = b'{"a":1}'
T = 1_700_000_000


def test_the_header_has_the_documented_format():
    expected = hmac.new(b"whsec_test", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, timestamp=T) == f"t=1700000000,v1={expected}"


def test_an_empty_body_is_signed_as_empty():
    expected = hmac.new(b"k", b"1700000000.", hashlib.sha256).hexdigest()
    assert compute_signature("k", T, None) == expected


def test_a_signature_verifies():
    verify(SECRET, BODY, sign(SECRET, BODY, timestamp=T), now=T + 10)


def test_the_current_time_is_used_by_default():
    verify(SECRET, BODY, sign(SECRET, BODY))


def test_a_changed_body_fails():
    header = sign(SECRET, BODY, timestamp=T)
    with pytest.raises(SignatureError, match="does not match"):
        verify(SECRET, b'{"a":2}', header, now=T)


def test_another_secret_fails():
    with pytest.raises(SignatureError):
        verify("other", BODY, sign(SECRET, BODY, timestamp=T), now=T)


def test_an_old_signature_is_refused():
    header = sign(SECRET, BODY, timestamp=T)
    with pytest.raises(SignatureError, match="300 s"):
        verify(SECRET, BODY, header, now=T + 301)
    verify(SECRET, BODY, header, now=T + 301, tolerance=600)


def test_a_changed_timestamp_fails():
    signature = sign(SECRET, BODY, timestamp=T).split(",")[1]
    with pytest.raises(SignatureError):
        verify(SECRET, BODY, f"t={T + 1},{signature}", now=T)


def test_any_of_several_v1_values_may_match_during_rotation():
    good = sign(SECRET, BODY, timestamp=T).split(",")[1]
    verify(SECRET, BODY, f"t={T},v1=deadbeef,{good},v0=ignored", now=T)


@pytest.mark.parametrize(
    "header", ["", "v1=abc", f"t={T}", "t=soon,v1=abc", "t=²,v1=abc", "garbage", f"t={T},v1"]
)
def test_malformed_headers_are_refused(header):
    with pytest.raises(SignatureError):
        parse_signature_header(header)


def test_an_empty_secret_is_refused():
    with pytest.raises(ValueError, match="empty"):
        sign("", BODY)


def test_a_rotating_secret_signs_with_the_new_and_the_old_secret():
    from syncengine.core.signing import RotatingSecret, signing_secrets

    secret = RotatingSecret("whsec_new", "whsec_old")
    assert secret == "whsec_new"
    assert signing_secrets(secret) == ("whsec_new", "whsec_old")
    assert signing_secrets("whsec_new") == ("whsec_new",)
    header = sign(secret, b'{"a":1}', timestamp=1_700_000_000)
    assert header.count("v1=") == 2
    for key in ("whsec_new", "whsec_old"):
        verify(key, b'{"a":1}', header, now=1_700_000_000)
    with pytest.raises(SignatureError):
        verify("whsec_other", b'{"a":1}', header, now=1_700_000_000)
