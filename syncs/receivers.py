"""What the syncs app does when a lower layer announces a change (connected in
`SyncsConfig.ready`). Receivers only hand over to an action, imported when it is needed:
every process loads this module at start-up, and the actions bring the REST framework with
them, which `manage.py integration` would otherwise load for nothing."""

from __future__ import annotations

from typing import Any

from integrations.models import Destination, IntegrationVersion
from portal.models import User


def destination_version_changed(
    sender: type[Destination],
    *,
    destination: Destination,
    version: IntegrationVersion,
    acting_user: User | None = None,
    **_: Any,
) -> None:
    from syncs.actions import connections_follow_version

    connections_follow_version(destination=destination, version=version, acting_user=acting_user)
