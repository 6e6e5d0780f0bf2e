"""Secrets are masked under every spelling a request can give them, where they stand as
values, and nowhere else: masking never destroys the text around a secret."""

from __future__ import annotations

import base64
import json
import string
from urllib.parse import quote

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from syncengine.core.masking import (
    CREDENTIAL_HEADERS,
    MASK,
    MIN_SECRET_LENGTH,
    _mask_header_value,
    compiled_secrets,
    mask_headers,
    mask_text,
    mask_url,
    mask_value,
    secret_forms,
)

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
        assert mask_text(f"?key={spelling}", [SECRET]) == f"?key={MASK}", spelling


def test_a_secret_containing_another_is_masked_whole():
    forms = secret_forms(["ab", "abcd"])
    assert forms.index("abcd") < forms.index("ab")
    assert mask_text('{"a": "abcd", "b": "ab"}', ["ab", "abcd"]) == (
        f'{{"a": "{MASK}", "b": "{MASK}"}}'
    )
    assert mask_text("x abcdefgh-ijk x", ["abcdefgh", "abcdefgh-ijk"]) == f"x {MASK} x"


def test_an_authorization_header_keeps_only_its_scheme():
    headers = [
        ("Authorization", "Bearer anything"),
        ("X-Key", f"k={SECRET}"),
        ("X-Api-Key", "k"),
        ("X-Auth", "Token k"),
        ("Cookie", 'session="k"; theme=k2'),
        ("Accept", "*/*"),
        ("X-Status", "OK then"),
    ]
    assert mask_headers(headers, [SECRET, "k", "OK"]) == [
        ("Authorization", f"Bearer {MASK}"),
        ("X-Key", f"k={MASK}"),
        ("X-Api-Key", MASK),
        ("X-Auth", f"Token {MASK}"),
        ("Cookie", f'session="{MASK}"; theme=k2'),
        ("Accept", "*/*"),
        ("X-Status", "OK then"),
    ]


def test_a_short_secret_is_masked_only_where_it_is_a_whole_value():
    assert mask_text("<- 200 OK in 12 ms", ["OK"]) == "<- 200 OK in 12 ms"
    assert mask_text("<- 201 Created in 3 ms", ["e"]) == "<- 201 Created in 3 ms"
    assert mask_text("OK", ["OK"]) == MASK
    body = '{"status": "OK", "note": "OK then", "OK": 1, "items": ["OK", "e", "Created"]}'
    assert json.loads(mask_text(body, ["OK", "e"])) == {
        "status": MASK,
        "note": "OK then",
        MASK: 1,
        "items": [MASK, MASK, "Created"],
    }
    assert mask_text("the value 'e' was refused", ["e"]) == f"the value '{MASK}' was refused"


def test_urls_are_masked_part_by_part():
    url = "https://api.test/v1/k/lists/kk?key=k&keep=kk&k#frag=k"
    assert mask_url(url, ["k"]) == (
        f"https://api.test/v1/{MASK}/lists/kk?key={MASK}&keep=kk&{MASK}#frag={MASK}"
    )
    assert mask_url("https://bob:pw@api.test:8443/a?k=tok", ["tok"]) == (
        f"https://{MASK}@api.test:8443/a?k={MASK}"
    )
    # In text, userinfo is masked when it holds a secret; the rest of the text is left alone.
    text = "moved to https://u:pw@host.test/x, see https://bob@other.test/ (k)"
    assert mask_text(text, ["pw"]) == (
        f"moved to https://{MASK}@host.test/x, see https://bob@other.test/ (k)"
    )


def test_a_url_among_users_email_addresses_is_still_masked_by_any_percent_spelling():
    """Bodies of users are full of `@` and need no masking; a URL in one still does: a
    secret however it is percent-escaped there, in a parameter or in its userinfo."""
    users = [{"email": f"user{i}@example.com", "plan": "pro"} for i in range(3)]
    plain = json.dumps({"members": users})
    assert mask_text(plain, ["tok-secret"]) is plain
    document = json.dumps(
        {
            "members": users,
            "next": "https://api.test/p?token=%74ok%2Dsecret",
            "hook": "https://me:%74ok-secret@hooks.test/x",
        }
    )
    masked = json.loads(mask_text(document, ["tok-secret"]))
    assert masked["next"] == f"https://api.test/p?token={MASK}"
    assert masked["hook"] == f"https://{MASK}@hooks.test/x"
    assert masked["members"] == users


def test_the_basic_auth_pair_is_masked_in_a_json_string_and_a_header():
    pair = "user:pa ss"
    encoded = base64.b64encode(pair.encode()).decode()
    assert mask_value(f"Basic {encoded}", [pair, encoded]) == f"Basic {MASK}"
    assert mask_text(json.dumps({"auth": encoded}), [pair, encoded]) == f'{{"auth": "{MASK}"}}'


def test_a_long_secret_echoed_in_text_is_masked_as_a_word_only():
    key = "tok-9f3a2b71"
    assert len(key) >= MIN_SECRET_LENGTH
    assert mask_text(f"<p>Invalid key {key}.</p>", [key]) == f"<p>Invalid key {MASK}.</p>"
    assert mask_text(f"x{key} {key}y", [key]) == f"x{key} {key}y"


# -- properties ----------------------------------------------------------------------------

WORD = string.ascii_letters + string.digits
json_text = st.text(alphabet=st.characters(exclude_characters=" :\x00"), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | json_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(json_text, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(text=st.text(), secret=st.text(min_size=1, max_size=12))
def test_text_without_any_spelling_of_the_secret_is_never_changed(text, secret):
    assume(not any(form in text for form in secret_forms([secret])))
    assert mask_text(text, [secret]) == text
    assert mask_value(text, [secret]) == text
    assert mask_headers([("X-Any", text)], [secret]) == [("X-Any", text)]


@settings(max_examples=300, deadline=None)
@given(
    secret=st.text(alphabet=WORD, min_size=1, max_size=16),
    before=st.text(alphabet=WORD, min_size=1, max_size=3),
    after=st.text(alphabet=WORD, min_size=1, max_size=3),
)
def test_a_secret_inside_other_text_is_never_masked(secret, before, after):
    word = before + secret + after
    assume(word not in secret_forms([secret]))

    def texts_of(word: str) -> list[str]:
        return [
            json.dumps({"name": word, "items": [word, 1, None], word: True}),
            f"https://api.test/-/{word}/_?_={word}&{word}#{word}",
            f"<- 200 {word} in 12 ms",
            f"the value '{word}' and \"{word}\" were refused",
            word,
        ]

    # The secret is only ever inside the word: not one of the texts' own ("name", "12"...).
    frames = " ".join(texts_of(" "))
    assume(not any(form in frames for form in secret_forms([secret])))
    texts = texts_of(word)
    for text in texts:
        assert mask_text(text, [secret]) == text
    assert mask_headers([("X-Key", word), ("Cookie", f"a={word}")], [secret]) == [
        ("X-Key", word),
        ("Cookie", f"a={word}"),
    ]


@settings(max_examples=300, deadline=None)
@given(document=json_values, secret=st.text(min_size=1, max_size=MIN_SECRET_LENGTH - 1))
def test_a_json_document_changes_only_in_strings_that_are_the_secret(document, secret):
    forms = set(secret_forms([secret]))

    def expected(value):
        if isinstance(value, str):
            return MASK if value in forms else value
        if isinstance(value, list):
            return [expected(item) for item in value]
        if isinstance(value, dict):
            return {expected(key): expected(item) for key, item in value.items()}
        return value

    text = json.dumps(document, ensure_ascii=False)
    assume(text not in forms)  # the whole text is the secret: masked whole
    masked = mask_text(text, [secret])
    assert json.loads(masked) == expected(document)
    if expected(document) == document:
        assert masked == text


@st.composite
def headers_and_secrets(draw):
    """Headers as requests and answers carry them, some holding a secret in one of the
    places where it is masked (whole, after a scheme, in a pair, in a URL, as a word)."""
    secrets = draw(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=3))
    secret = draw(st.sampled_from(secrets))
    spelled = draw(st.sampled_from(secret_forms([secret])))
    # Every byte escaped: a spelling no list of forms holds, found by decoding the URL.
    escaped = "".join(f"%{byte:02X}" for byte in secret.encode())
    value = st.one_of(
        st.text(max_size=40),
        st.sampled_from(
            [
                "application/json",
                f"Bearer {spelled}",
                spelled,
                f"session={spelled}; Path=/",
                f"https://user:{spelled}@api.test/v1/{spelled}?key={spelled}",
                f"https://api.test/v1/{escaped}",
                f"the key {spelled} was refused",
                "https://api.test/v1?a=%20b",
                "mailto://someone@example.com",
                "a\\b",
            ]
        ),
    )
    name = st.sampled_from(["Authorization", "Content-Type", "X-Api-Key", "Set-Cookie", "Link"])
    return draw(st.lists(st.tuples(name, value), max_size=6)), secrets


@settings(max_examples=300, deadline=None)
@given(case=headers_and_secrets())
def test_headers_masked_together_are_masked_as_each_is_alone(case):
    """`mask_headers` skips the work when nothing in all the headers together can need it:
    that never changes what one header's masking gives."""
    headers, secrets = case
    compiled = compiled_secrets(secrets)
    alone = []
    for name, value in headers:
        if name.lower() in CREDENTIAL_HEADERS:
            scheme, _, credential = value.partition(" ")
            alone.append((name, f"{scheme} {MASK}" if credential else MASK))
        else:
            alone.append((name, compiled.mask_words(_mask_header_value(value, compiled))))
    assert mask_headers(headers, secrets) == alone
