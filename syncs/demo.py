"""Demo data of cohort syncs: Acme's connection to the demo partner's list destination and
an hourly sync of its *Power users* cohort (a step of `portal.demo`), so that alice finds a
sync to open and press **Sync now** on.

The connection uses the approved demo destination (the review side's demo step approves
it); if that step could not reach the demo partner, it uses Acme's internal release of the
same draft instead.
"""

from __future__ import annotations

from integrations.models import Destination, DestinationChannel, Integration
from integrations.releases import integration_release
from portal.demo import DemoData, demo_step
from portal.models import Cohort, User
from syncengine.demo import DEMO_LIST_DRAFT, DEMO_PARTNER_TOKEN
from syncs import actions
from syncs.models import Connection

DEMO_CONNECTION = "Demo Partner"
DEMO_SYNCED_COHORT = "Power users"


def demo_destination(draft: Integration, alice: User) -> Destination:
    approved = draft.destinations.filter(channel=DestinationChannel.APPROVED).first()
    if approved is not None:
        return approved
    internal = draft.destinations.filter(channel=DestinationChannel.INTERNAL).first()
    if internal is None:
        integration_release(acting_user=alice, integration=draft)
        internal = draft.destinations.get(channel=DestinationChannel.INTERNAL)
    return internal


@demo_step
def demo_sync(data: DemoData) -> None:
    """Acme's connection and sync, unless Acme has a connection of that name already."""
    alice, acme, project = data.built["alice"], data.built["acme"], data.built["project"]
    if Connection.objects.filter(org=acme, name__iexact=DEMO_CONNECTION).exists():
        return
    draft = Integration.objects.filter(display_name__iexact=DEMO_LIST_DRAFT, org=acme).first()
    cohort = Cohort.objects.filter(project=project, name=DEMO_SYNCED_COHORT).first()
    if draft is None or cohort is None:
        return
    connection = actions.connection_create(
        acting_user=alice,
        org=acme,
        destination=demo_destination(draft, alice),
        project=project,
        name=DEMO_CONNECTION,
        values={"bearer_token": DEMO_PARTNER_TOKEN},
        mapping={"user_id_field": "user_id"},
    )
    actions.sync_create(
        acting_user=alice, connection=connection, cohort=cohort, cadence_value="hourly"
    )
