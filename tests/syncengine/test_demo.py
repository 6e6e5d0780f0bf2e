"""The demo data of `make run`: drafts pointed at the demo partner, ready to pass a test."""

from __future__ import annotations

import pytest

from integrations.models import Integration
from portal.demo import load_demo_data
from portal.models import User
from reviews import submissions
from syncengine import actions, selectors, testruns
from syncengine.demo import DEMO_LIST_DRAFT, DEMO_PROPERTY_DRAFT
from syncengine.models import TestSettings


@pytest.mark.django_db
def test_the_demo_drafts_pass_a_full_test_at_once_and_loading_twice_changes_nothing(partner):
    load_demo_data(partner_url=partner.url)
    load_demo_data(partner_url=partner.url)
    drafts = Integration.objects.filter(
        display_name__in=[DEMO_LIST_DRAFT, DEMO_PROPERTY_DRAFT]
    ).order_by("display_name")
    assert [d.integration_type for d in drafts] == ["list", "property"]
    assert TestSettings.objects.count() == 2
    alice = User.objects.get(email="alice@acme.test")
    for draft in drafts:
        run = actions.test_run_start(acting_user=alice, integration=draft)
        run = testruns.execute_test_run(run.pk)
        assert run.status == "passed", run.summary
        assert selectors.passing_full_test(draft) == run
        # The demo drafts carry a logo, so they can be submitted straight away; the list
        # draft's version 1 is approved by the demo data (the syncing demo connects it), so
        # only a change would be new to review.
        assert draft.logo is not None
        if draft.display_name == DEMO_LIST_DRAFT:
            assert draft.versions.filter(number=1, state="approved").exists()
            continue
        version = submissions.integration_submit(acting_user=alice, integration=draft)
        assert version.state == "in_review" and version.logo_id == draft.logo_id
    assert partner.state.list_summaries()[0]["member_count"] == 20
