"""Signals integrations sends so that the layers above can react without being imported.

`destination_version_changed` is sent inside the transaction of the action that made a
destination serve another version (an approval, an internal release, a rollback), with
`destination`, `previous` (the version it served before, None for a new tile), `version`
and `acting_user`. The syncs app moves the connections of the destination onto the new
version when their Connect-modal values still fit, and asks the organisation to reconnect
when they do not; a receiver that raises undoes the whole action.
"""

from __future__ import annotations

from django.dispatch import Signal

destination_version_changed = Signal()
