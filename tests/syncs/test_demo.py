"""The demo data of cohort syncs: the demo list destination approved for every
organisation, and Acme's connection and hourly sync of *Power users* to it, ready for
**Sync now**."""

from __future__ import annotations

import pytest

from integrations.models import DestinationChannel
from portal.demo import load_demo_data
from portal.models import AuditEvent
from syncengine.demo import DEMO_LIST_DRAFT
from syncs.demo import DEMO_CONNECTION, DEMO_SYNCED_COHORT
from syncs.models import CohortSync, Connection
from tests.partners import closed_port


@pytest.mark.django_db
def test_the_demo_has_an_approved_destination_a_connection_and_a_sync(partner):
    load_demo_data(partner_url=partner.url)
    load_demo_data(partner_url=partner.url)
    connection = Connection.objects.select_related("destination__version", "org").get()
    assert connection.name == DEMO_CONNECTION and connection.org.name == "Acme Audiences"
    destination = connection.destination
    assert destination.channel == DestinationChannel.APPROVED
    assert destination.version.display_name == DEMO_LIST_DRAFT
    assert destination.version.state == "approved"
    sync = CohortSync.objects.select_related("cohort").get()
    assert (sync.cohort.name, sync.cadence) == (DEMO_SYNCED_COHORT, "hourly")
    assert sync.next_run_at is not None
    # Built through the actions: the audit log tells the story, once.
    actions = list(
        AuditEvent.objects.filter(action__in=["connection.created", "sync.created"])
        .order_by("id")
        .values_list("action", "actor__email")
    )
    assert actions == [
        ("connection.created", "alice@acme.test"),
        ("sync.created", "alice@acme.test"),
    ]


@pytest.mark.django_db
def test_the_demo_serves_its_own_partner_for_the_test_when_none_answers():
    url = f"http://127.0.0.1:{closed_port()}"
    load_demo_data(partner_url=url)
    connection = Connection.objects.select_related("destination").get()
    assert connection.destination.channel == DestinationChannel.APPROVED
