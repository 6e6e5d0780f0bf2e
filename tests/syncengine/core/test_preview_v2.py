"""Previews, curl commands and the variable tracker of a version-2 manifest."""

from __future__ import annotations

import json
import shlex

from syncengine.core.preview import preview_manifest
from syncengine.core.tracker import track_variables
from tests.syncengine.core.manifest.conftest import fixture


def test_every_request_is_previewed_in_the_order_a_sync_sends_them():
    preview = preview_manifest(fixture("directory_list"))
    assert [p.endpoint for p in preview.endpoints] == [
        "create_list.find",
        "create_list",
        "add_users.lookup",
        "add_users.create",
        "add_users",
        "remove_users.lookup",
        "remove_users",
    ]
    assert all(p.ok for p in preview.endpoints)


def test_the_lookup_preview_and_its_curl_send_the_sample_users_keys():
    preview = preview_manifest(fixture("directory_list"))
    lookup = preview.endpoint("add_users.lookup")
    emails = [user["email"] for user in preview.users]
    assert json.loads(lookup.body or "") == {"emails": emails}
    words = shlex.split(lookup.curl or "")
    assert words[words.index("--data-raw") + 1] == json.dumps(
        {"emails": emails}, separators=(",", ":")
    )
    assert "Bearer ••••••" in lookup.curl  # secrets masked


def test_a_request_sent_per_user_is_shown_for_every_sample_user_with_its_partner_id():
    preview = preview_manifest(fixture("directory_list"))
    remove = preview.endpoint("remove_users")
    assert remove.url.endswith("/members/sample-partner-id-1")
    assert "Sent once per user: 3 requests" in remove.note and "samples" in remove.note
    assert [each.user for each in remove.per_user] == [user["user_id"] for user in preview.users]
    assert [each.url.rsplit("/", 1)[1] for each in remove.per_user] == [
        "sample-partner-id-1",
        "sample-partner-id-2",
        "sample-partner-id-3",
    ]
    for each in remove.per_user:
        assert shlex.split(each.curl or "")[3] == each.url
        assert "Bearer ••••••" in (each.curl or "")
    add = preview.endpoint("add_users")
    assert add.per_user == () and add.user is None
    assert json.loads(add.body or "") == {
        "ids": ["sample-partner-id-1", "sample-partner-id-2", "sample-partner-id-3"]
    }
    assert preview.as_dict()["endpoints"][-1]["per_user"][2]["user"] == preview.users[2]["user_id"]


def test_a_request_sent_per_user_that_skips_every_sample_user_says_so():
    doc = fixture("directory_list")
    doc["mapping_fields"][0]["options"] = ["work_email"]  # no sample user has it
    create = preview_manifest(doc).endpoint("add_users.create")  # per user, by email
    assert create.ok and create.url is None and create.per_user == ()
    assert "Sent once per user: 0 requests" in create.note
    assert "3 of 3 sample users would be skipped" in create.note


def test_sample_users_a_request_would_skip_are_named():
    doc = fixture("directory_list")
    doc["mapping_fields"][0]["options"] = ["work_email"]  # no sample user has it
    preview = preview_manifest(doc)
    lookup = preview.endpoint("add_users.lookup")
    assert "3 of 3 sample users would be skipped" in lookup.note
    assert json.loads(lookup.body or "") == {"emails": []}


def test_the_tracker_shows_the_parts_of_lookups_modifiers_and_policies():
    doc = fixture("directory_list")
    doc["endpoints"]["add_users"]["lookup"]["create"]["payload"] = (
        '{"email": "$email", "note": "${cohort_id:string}"}'
    )
    tracker = track_variables(doc)
    used = {(row.variable, row.source): row for row in tracker.used}
    assert ("email", "add_users.lookup.key") in used
    assert ("email", "add_users.lookup.create.payload") in used
    assert used[("cohort_id", "add_users.lookup.create.payload")].modifiers == ("string",)
    assert used[("partner_id", "remove_users.url")].status == "ok"
    (email,) = [row for row in tracker.declared if row.variable == "email"]
    assert email.if_missing == "skip"
    partner = next(row for row in tracker.predefined if row.variable == "partner_id")
    assert len(partner.locations) == 2


def test_the_tracker_flags_partner_id_where_there_is_no_lookup():
    doc = fixture("directory_list")
    del doc["endpoints"]["remove_users"]["lookup"]
    tracker = track_variables(doc)
    row = next(
        r for r in tracker.used if r.variable == "partner_id" and r.endpoint == "remove_users"
    )
    assert row.status == "not_available_here"
    assert "lookup" in row.message
