"""What the syncs app does when a lower layer announces a change (connected in
`SyncsConfig.ready`). Receivers only hand over to an action."""

from __future__ import annotations

from typing import Any

from integrations.models import Destination, IntegrationVersion
from portal.models import User
from syncs.actions import connections_follow_version


def destination_version_changed(
    sender: type[Destination],
    *,
    destination: Destination,
    version: IntegrationVersion,
    acting_user: User | None = None,
    **_: Any,
) -> None:
    connections_follow_version(destination=destination, version=version, acting_user=acting_user)
