"""Property tests of the version-2 constructs: no value (ids, emails, names with quotes,
commas, `&`, `%`, `/`, NUL, emoji) changes the structure of a URL, a query string or a
body built by a lookup, a per-user request, a batch joined into a URL, a typed
placeholder or a value left out; and lookup results are matched to users by key."""

from __future__ import annotations

import json
import random
from urllib.parse import unquote, urlsplit

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from syncengine.core.compiler import compile_manifest
from syncengine.core.errors import PartnerResponse
from syncengine.core.responses import read_partner_ids
from syncengine.core.template.errors import RenderError
from syncengine.core.template.json_codegen import JsonTemplate
from syncengine.core.template.text import HeaderTemplate, UrlTemplate
from syncengine.core.template.values import OMITTED, dumps_json, fix_surrogates
from syncengine.core.types import PreparedRequest, RenderContext
from tests.syncengine.core.manifest.conftest import fixture

# What partners' ids, emails and list names hold when they are unkind.
NASTY = st.sampled_from(
    [*"\"',&%/?#=;+:@[]{}$\\\x00\n\r\t ", "😀", "é", "%2C", "%00", "../", "$items", "\ud800"]
)
nasty_text = st.lists(st.one_of(st.text(max_size=6), NASTY), min_size=1, max_size=12).map("".join)
SETTINGS = settings(max_examples=200, deadline=None)


def _directory_with_query():
    doc = fixture("directory_list")
    doc["endpoints"]["remove_users"]["url"] += "?who=$email"
    return compile_manifest(doc)


# Compiled once: compiling is not what these properties are about.
DIRECTORY = _directory_with_query()


def split_query(url: str) -> list[tuple[str, str]]:
    query = urlsplit(url).query
    return [tuple(pair.split("=", 1)) for pair in query.split("&")]  # type: ignore[misc]


@SETTINGS
@given(
    items=st.lists(nasty_text, min_size=1, max_size=8),
    separator=st.sampled_from([",", ";", "|", ":"]),
)
def test_a_joined_batch_is_one_parameter_whose_items_come_back_exactly(items, separator):
    template = UrlTemplate(
        f"https://api.test/v3/lists/L/contacts?ids=${{items:join({separator})}}&page_size=100"
    )
    url = template.render({"items": items})
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path, parts.fragment) == (
        "https",
        "api.test",
        "/v3/lists/L/contacts",
        "",
    )
    pairs = split_query(url)
    assert [name for name, _ in pairs] == ["ids", "page_size"]
    raw = pairs[0][1].split(separator)
    assert [unquote(item) for item in raw] == [fix_surrogates(item) for item in items]


@SETTINGS
@given(items=st.lists(nasty_text, max_size=6))
def test_a_batch_as_json_in_a_query_parameter_decodes_to_the_batch(items):
    url = UrlTemplate("https://a.test/api/profiles?filter=any(email,${items:json})&n=1").render(
        {"items": items}
    )
    pairs = split_query(url)
    assert [name for name, _ in pairs] == ["filter", "n"]
    text = unquote(pairs[0][1])
    assert text.startswith("any(email,") and text.endswith(")")
    assert json.loads(text[len("any(email,") : -1]) == [fix_surrogates(i) for i in items]


@SETTINGS
@given(partner_id=nasty_text, list_id=nasty_text, email=nasty_text)
def test_a_per_user_request_keeps_its_path_segments(partner_id, list_id, email):
    context = RenderContext(
        values={"bearer_token": "t"}, mapping={"email": "email"}, list_id=list_id
    )
    request = DIRECTORY.build_request(
        "remove_users", context=context, users=[{"email": email}], partner_ids=[partner_id]
    )
    parts = urlsplit(request.url)
    segments = parts.path.split("/")
    assert segments[:2] == ["", "lists"] and segments[3] == "members"
    assert len(segments) == 5
    assert unquote(segments[2]) == fix_surrogates(list_id)
    assert unquote(segments[4]) == fix_surrogates(partner_id)
    assert [name for name, _ in split_query(request.url)] == ["who"]
    assert parts.fragment == ""


@SETTINGS
@given(emails=st.lists(nasty_text, min_size=1, max_size=6), ids=st.data())
def test_lookup_and_batch_bodies_carry_exactly_the_batch(emails, ids):
    # An empty email is a missing one: `if_missing: skip` screens its user out first.
    assume(all(emails))
    integration = DIRECTORY
    context = RenderContext(values={"bearer_token": "t"}, mapping={"email": "email"}, list_id="L")
    users = [{"email": email} for email in emails]
    lookup = integration.build_request("add_users.lookup", context=context, users=users)
    assert json.loads(lookup.body or b"") == {"emails": [fix_surrogates(e) for e in emails]}
    partner_ids = ids.draw(st.lists(nasty_text, min_size=len(users), max_size=len(users)))
    batch = integration.build_request(
        "add_users", context=context, users=users, batch_id="b", partner_ids=partner_ids
    )
    assert json.loads(batch.body or b"") == {"ids": [fix_surrogates(i) for i in partner_ids]}


@SETTINGS
@given(value=st.one_of(nasty_text, st.integers(), st.booleans(), st.none()), key=nasty_text)
def test_typed_and_omitted_values_keep_the_body_shape(value, key):
    assume(fix_surrogates(key) not in {"id", "n"})
    template = JsonTemplate(
        '{"id": "${v:string}", "$k": "${v:json}", "label": "v=${v:json}", "n": 1}',
        per_user={"v"},
        missing={"v": lambda raw: OMITTED if raw in (None, "") else raw},
        omittable={"v"},
    )
    (item,) = template.render_items([{"p": value}], {"k": key}, {"v": "p"})
    rendered = json.loads(dumps_json(item))
    if value in (None, ""):
        assert rendered == {"n": 1}
        return
    assert list(rendered) == ["id", fix_surrogates(key), "label", "n"]
    assert isinstance(rendered["id"], str)
    assert json.loads(rendered["label"][2:]) == (
        fix_surrogates(value) if isinstance(value, str) else value
    )


@SETTINGS
@given(value=nasty_text)
def test_a_header_value_never_starts_another_header(value):
    try:
        rendered = HeaderTemplate("id=${v:base64}; raw=$v").render({"v": value})
    except RenderError:
        return  # refused (a line break, a control character, non-ASCII text)
    assert "\r" not in rendered and "\n" not in rendered


@SETTINGS
@given(
    keys=st.lists(nasty_text, min_size=1, max_size=8, unique_by=str.casefold), seed=st.integers()
)
def test_lookup_results_are_matched_by_key_whatever_their_order(keys, seed):
    assume(all(fix_surrogates(k) == k for k in keys))
    ids = {key: f"id-{index}" for index, key in enumerate(keys)}
    results = [{"person": {"email": key.upper()}, "id": ids[key]} for key in keys]
    random.Random(seed).shuffle(results)
    found_keys = [key for key in keys if hash((key, seed)) % 3]  # some are not found
    results = [r for r in results if any(ids[k] == r["id"] for k in found_keys)]
    request = PreparedRequest("add_users.lookup", "POST", "https://a.test/", (), b"{}")
    response = PartnerResponse(
        200, "OK", (), json.dumps({"people": results}).encode(), False, 1.0, request
    )
    found = read_partner_ids(
        response,
        name="add_users.lookup",
        results_path="people",
        result_key_path="person.email",
        partner_id_path="id",
        ignore_case=True,
    )
    for key in keys:
        assert found.get(key.upper().casefold()) == (ids[key] if key in found_keys else None)
