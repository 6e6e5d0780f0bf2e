"""The lifecycle: release internally, submit, review decisions, deployment, rollback —
every transition and every refused one, the emails, the diff and the Destinations tile.

Test runs are real: a DemoPartner on loopback and the same executor the worker runs.
"""

from __future__ import annotations

import base64
import copy

import pytest

from integrations import actions, releases
from integrations.models import (
    Destination,
    IntegrationStatus,
    IntegrationVersion,
)
from portal.errors import ActionError
from reviews import decisions, submissions
from reviews.models import ReviewComment
from syncengine import actions as test_actions
from syncengine import testruns
from tests.integrations.conftest import png_bytes
from tests.signin import deliver_mails
from tests.syncengine.conftest import list_manifest, make_draft, save_settings

REVIEWS = "/api/v1/reviews/"
INTEGRATIONS = "/api/v1/integrations/"


@pytest.fixture
def draft(cast, partner):
    manifest = list_manifest(partner.url, name="Loopback Lists")
    manifest["logo_png_base64"] = base64.b64encode(png_bytes(128, 128)).decode()
    integration = make_draft(cast, manifest)
    save_settings(cast, integration, users_count=5)
    return integration


def pass_full_test(cast, integration):
    run = test_actions.test_run_start(acting_user=cast.alice, integration=integration)
    run = testruns.execute_test_run(run.pk)
    assert run.status == "passed", run.summary
    return run


def submit(cast, integration, note="Please review") -> IntegrationVersion:
    return submissions.integration_submit(
        acting_user=cast.alice, integration=integration, note=note
    )


def edit(cast, integration, **endpoint_changes):
    integration.refresh_from_db()
    config = copy.deepcopy(integration.config)
    config["endpoints"]["create_list"].update(endpoint_changes)
    return actions.integration_save(
        acting_user=cast.alice, integration=integration, manifest=config
    )


# --- submitting ---------------------------------------------------------------------------


def test_submit_without_a_passing_test_is_refused(cast, draft):
    with pytest.raises(ActionError) as refused:
        submit(cast, draft)
    assert refused.value.status == 409 and refused.value.code == "test_required"
    draft.refresh_from_db()
    assert draft.status == IntegrationStatus.DRAFT
    assert not draft.versions.exists()


def test_submit_with_a_stale_test_is_refused(cast, draft):
    pass_full_test(cast, draft)
    edit(cast, draft, payload='{"name": "$cohort_name", "source": "amplitude"}')
    with pytest.raises(ActionError, match="Tests run before your latest edit no longer count"):
        submit(cast, draft)


def test_submit_needs_a_logo(cast, draft):
    actions.integration_set_logo(acting_user=cast.alice, integration=draft, data=None)
    pass_full_test(cast, draft)
    with pytest.raises(ActionError, match="Upload a PNG logo"):
        submit(cast, draft)


def test_submit_freezes_a_version_and_emails_the_reviewers(
    cast, draft, django_capture_on_commit_callbacks
):
    run = pass_full_test(cast, draft)
    with django_capture_on_commit_callbacks(execute=True):
        version = submit(cast, draft)
    draft.refresh_from_db()
    assert draft.status == IntegrationStatus.IN_REVIEW
    assert (version.number, version.state, version.test_run_id) == (1, "in_review", run.pk)
    assert version.fingerprint == run.fingerprint
    assert version.note == "Please review"
    (email,) = deliver_mails()
    assert set(email.to) == {"integrations@localhost", "rita@platform.test", "adam@platform.test"}
    assert f"/review/{version.pk}/" in email.body
    assert version.expected_review_by > version.created_at


def test_submitting_twice_is_refused_until_withdrawn(cast, draft):
    pass_full_test(cast, draft)
    submit(cast, draft)
    with pytest.raises(ActionError, match="already in review") as refused:
        submit(cast, draft)
    assert refused.value.status == 409
    withdrawn = submissions.integration_withdraw(acting_user=cast.alice, integration=draft)
    assert withdrawn.state == "withdrawn"
    draft.refresh_from_db()
    assert draft.status == IntegrationStatus.DRAFT
    with pytest.raises(ActionError, match="no submission in review"):
        submissions.integration_withdraw(acting_user=cast.alice, integration=draft)


def test_editing_after_submission_leaves_the_version_untouched(cast, draft, alice_api):
    pass_full_test(cast, draft)
    version = submit(cast, draft)
    frozen = (copy.deepcopy(version.config), version.fingerprint)
    edit(cast, draft, payload='{"name": "$cohort_name", "v": 2}')
    version.refresh_from_db()
    assert (version.config, version.fingerprint) == frozen
    assert version.state == "in_review"
    # A version has no write endpoint at all.
    for method in ("put", "patch", "delete"):
        assert (
            getattr(alice_api, method)(f"{REVIEWS}{version.pk}/", {}, format="json").status_code
            == 405
        )


# --- decisions ----------------------------------------------------------------------------


def test_a_partner_cannot_approve(cast, draft, alice_api):
    pass_full_test(cast, draft)
    version = submit(cast, draft)
    response = alice_api.post(f"{REVIEWS}{version.pk}/approve", {}, format="json")
    assert response.status_code == 403
    with pytest.raises(ActionError, match="Only reviewers"):
        decisions.review_approve(acting_user=cast.alice, version=version)
    version.refresh_from_db()
    assert version.state == "in_review"
    assert not Destination.objects.exists()


def test_a_reviewer_cannot_edit_drafts(cast, draft, api_for):
    rita = api_for(cast.rita, None)
    assert rita.put(f"{INTEGRATIONS}{draft.pk}/manifest", {}, format="json").status_code == 403
    assert (
        rita.patch(f"{INTEGRATIONS}{draft.pk}/", {"display_name": "X"}, format="json").status_code
        == 403
    )


def test_request_changes_needs_a_comment_then_the_partner_is_told(
    cast, draft, api_for, django_capture_on_commit_callbacks
):
    pass_full_test(cast, draft)
    version = submit(cast, draft)
    rita = api_for(cast.rita, None)
    empty = rita.post(f"{REVIEWS}{version.pk}/request-changes", {"message": " "}, format="json")
    assert empty.status_code == 400
    assert "Say what needs to change" in empty.json()["error"]["message"]
    version.refresh_from_db()
    assert version.state == "in_review"
    with django_capture_on_commit_callbacks(execute=True):
        done = rita.post(
            f"{REVIEWS}{version.pk}/request-changes",
            {"message": "Use DELETE for removals."},
            format="json",
        )
    assert done.status_code == 200 and done.json()["state"] == "changes_requested"
    draft.refresh_from_db()
    assert draft.status == IntegrationStatus.CHANGES_REQUESTED
    comment = ReviewComment.objects.get(version=version)
    assert (comment.kind, comment.body, comment.author) == (
        "changes_requested",
        "Use DELETE for removals.",
        cast.rita,
    )
    assert deliver_mails()[-1].to == ["alice@acme.test"]
    assert "Use DELETE for removals." in deliver_mails()[-1].body


def test_reject_needs_a_reason(cast, draft):
    pass_full_test(cast, draft)
    version = submit(cast, draft)
    with pytest.raises(ActionError, match="Give the reason"):
        decisions.review_reject(acting_user=cast.rita, version=version, message="")
    rejected = decisions.review_reject(
        acting_user=cast.rita, version=version, message="Not a cohort destination."
    )
    assert rejected.state == "rejected"
    draft.refresh_from_db()
    assert draft.status == IntegrationStatus.REJECTED


def test_approval_deploys_the_tile_to_every_organisations_catalogue(
    cast, draft, api_for, alice_api, django_capture_on_commit_callbacks
):
    pass_full_test(cast, draft)
    version = submit(cast, draft)
    with django_capture_on_commit_callbacks(execute=True):
        decisions.review_approve(acting_user=cast.rita, version=version, message="Great work")
    draft.refresh_from_db()
    assert draft.status == IntegrationStatus.APPROVED
    assert "Approved" in deliver_mails()[-1].subject
    tiles = alice_api.get("/api/v1/destinations/").json()["results"]
    assert [(t["display_name"], t["channel"], t["version_number"]) for t in tiles] == [
        ("Loopback Lists", "approved", 1)
    ]
    assert tiles[0]["connect_fields"]["custom_fields"][0]["variable"] == "bearer_token"
    globex = api_for(cast.bob, cast.globex).get("/api/v1/destinations/").json()["results"]
    assert [(t["display_name"], t["partner"]) for t in globex] == [
        ("Loopback Lists", "Acme Audiences")
    ]
    # Approving twice is refused and changes nothing.
    with pytest.raises(ActionError) as twice:
        decisions.review_approve(acting_user=cast.rita, version=version)
    assert twice.value.status == 409
    assert Destination.objects.get().version == version


def test_the_live_version_keeps_serving_until_the_next_approval_and_can_be_rolled_back(
    cast, draft, api_for, client_for
):
    pass_full_test(cast, draft)
    first = submit(cast, draft)
    decisions.review_approve(acting_user=cast.rita, version=first)
    edit(cast, draft, payload='{"name": "$cohort_name", "v": 2}')
    pass_full_test(cast, draft)
    second = submit(cast, draft)
    destination = Destination.objects.get(channel="approved")
    assert destination.version == first  # still serving v1 while v2 is in review
    diff = api_for(cast.rita, None).get(f"{REVIEWS}{second.pk}/").json()["diff"]
    assert diff["against"] == 1
    assert [c["path"] for c in diff["changes"]] == ["endpoints.create_list.payload"]
    decisions.review_approve(acting_user=cast.rita, version=second)
    destination.refresh_from_db()
    assert destination.version == second
    with pytest.raises(ActionError, match="Only platform admins"):
        releases.destination_rollback(acting_user=cast.rita, destination=destination, version=first)
    # The platform admins' page offers the earlier approved version, not the live one.
    page = client_for(cast.adam).get("/platform/destinations/").content.decode()
    assert '<option value="1">v1 (approved' in page
    assert '<option value="2">' not in page
    adam = api_for(cast.adam, None)
    rolled = adam.post(
        f"/api/v1/destinations/{destination.pk}/rollback", {"version": 1}, format="json"
    )
    assert rolled.status_code == 200 and rolled.json()["version_number"] == 1
    assert [d.reason for d in destination.deployments.order_by("deployed_at", "id")] == [
        "approved",
        "approved",
        "rollback",
    ]


def test_first_submission_has_no_diff(cast, draft, api_for):
    pass_full_test(cast, draft)
    version = submit(cast, draft)
    detail = api_for(cast.rita, None).get(f"{REVIEWS}{version.pk}/").json()
    assert detail["diff"] == {"against": None, "first_submission": True, "changes": []}
    assert detail["validation"]["valid"] is True
    assert {e["endpoint"] for e in detail["preview"]["endpoints"]} == {
        "create_list",
        "add_users",
        "remove_users",
    }


# --- the queue, comments, visibility ------------------------------------------------------


def test_the_queue_is_for_reviewers_oldest_first_with_filters(cast, draft, api_for, partner):
    pass_full_test(cast, draft)
    older = submit(cast, draft)
    other = make_draft(cast, list_manifest(partner.url, name="Second Lists"))
    save_settings(cast, other, users_count=3)
    actions.integration_set_logo(
        acting_user=cast.alice, integration=other, data=png_bytes(100, 100)
    )
    pass_full_test(cast, other)
    newer = submit(cast, other)
    rita = api_for(cast.rita, None)
    queue = rita.get(REVIEWS).json()["results"]
    assert [v["id"] for v in queue] == [older.pk, newer.pk]
    rita.post(f"{REVIEWS}{newer.pk}/assign", {"reviewer": "rita@platform.test"}, format="json")
    mine = rita.get(REVIEWS, {"assigned": "me"}).json()["results"]
    assert [v["id"] for v in mine] == [newer.pk]
    assert rita.get(REVIEWS, {"org": cast.globex.pk}).json()["count"] == 0
    assert rita.get(REVIEWS, {"state": "bogus"}).status_code == 400
    assert api_for(cast.alice, cast.acme).get(REVIEWS).status_code == 403


def test_comments_thread_between_reviewer_and_partner(cast, draft, api_for, alice_api):
    pass_full_test(cast, draft)
    version = submit(cast, draft)
    rita = api_for(cast.rita, None)
    question = rita.post(
        f"{REVIEWS}{version.pk}/comments", {"body": "Is 10k the real limit?"}, format="json"
    ).json()
    answer = alice_api.post(
        f"{REVIEWS}{version.pk}/comments",
        {"body": "Yes, 10,000 ids per call.", "parent": question["id"]},
        format="json",
    )
    assert answer.status_code == 201
    thread = rita.get(f"{REVIEWS}{version.pk}/comments").json()
    assert [(c["body"], c["author_is_reviewer"]) for c in thread] == [
        ("Is 10k the real limit?", True),
        ("Yes, 10,000 ids per call.", False),
    ]
    assert thread[1]["parent"] == question["id"]
    from portal import actions as portal_actions
    from portal.flags import DEVELOPER_PORTAL

    portal_actions.flag_set(
        acting_user=cast.adam, org=cast.globex, flag=DEVELOPER_PORTAL, enabled=True
    )
    outsider = api_for(cast.bob, cast.globex)
    assert outsider.get(f"{REVIEWS}{version.pk}/").status_code == 404
    assert (
        outsider.post(f"{REVIEWS}{version.pk}/comments", {"body": "hi"}, format="json").status_code
        == 404
    )


def test_a_configuration_identical_to_the_approved_one_is_not_offered_for_review(
    cast, draft, client_for
):
    pass_full_test(cast, draft)
    first = submit(cast, draft)
    decisions.review_approve(acting_user=cast.rita, version=first)
    page = client_for(cast.alice).get(f"/portal/integrations/{draft.pk}/submit").content.decode()
    assert "Submit version 2 for review" not in page
    assert "This configuration is exactly <strong>version 1</strong>" in page
    with pytest.raises(ActionError, match="exactly version 1, already approved") as refused:
        submit(cast, draft)
    assert refused.value.status == 409
    assert draft.versions.count() == 1

    # Changed, it is a new version to submit.
    edit(cast, draft, payload='{"name": "$cohort_name", "v": 2}')
    pass_full_test(cast, draft)
    page = client_for(cast.alice).get(f"/portal/integrations/{draft.pk}/submit").content.decode()
    assert "Submit version 2 for review" in page
    assert submit(cast, draft).number == 2
