"""The Destinations catalogue as an organisation sees it, and its Connect form.

Every organisation sees the approved destinations platform admins have not hidden; a
partner's organisation also sees its own internal release. When the partner has both for
one integration they are one tile with a version badge, and the Connect form offers the
choice of version. The form is built here, from the version's Connect modal, and posted to
the syncs app, which makes the connection.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.urls import reverse

from integrations.access import catalogue_for
from integrations.editor.modal import connect_modal
from integrations.models import Destination, DestinationChannel
from portal.errors import ActionError
from portal.models import Membership, Organization, Project
from portal.roles import Access, org_allows

MAX_CONNECTION_NAME_LENGTH = 120


def may_connect(membership: Membership | None) -> bool:
    """Who may connect destinations and manage cohort syncs: an org's admins and
    developers. Every other member sees them read-only."""
    return org_allows(Access.ORG_EDITOR, membership)


def destination_logo_url(destination: Destination) -> str | None:
    """The tile logo as any organisation that sees the destination may load it."""
    logo_id = destination.version.logo_id
    if logo_id is None:
        return None
    return f"{reverse('destination_logo', args=[destination.pk])}?v={logo_id[:12]}"


def version_label(destination: Destination) -> str:
    number = f"v{destination.version.number}"
    return number if destination.channel == DestinationChannel.APPROVED else f"internal {number}"


@dataclass
class CatalogueTile:
    """One integration on the Destinations page: its approved destination, its internal
    release (seen by the partner's own organisation only), or both."""

    approved: Destination | None = None
    internal: Destination | None = None

    @property
    def primary(self) -> Destination:
        """The destination the tile stands for (and Connect starts with): the approved one
        when there is one."""
        found = self.approved or self.internal
        if found is None:
            raise ValueError("a tile has at least one destination")
        return found

    @property
    def choices(self) -> list[Destination]:
        return [d for d in (self.approved, self.internal) if d is not None]

    @property
    def display_name(self) -> str:
        return self.primary.version.display_name

    @property
    def integration_type(self) -> str:
        return self.primary.version.integration_type

    @property
    def logo_url(self) -> str | None:
        return destination_logo_url(self.primary)

    @property
    def badge(self) -> str:
        """`v3`, `internal v4`, or `v3 · internal v4` for a partner with both."""
        return " · ".join(version_label(d) for d in self.choices)


def catalogue_tiles(org: Organization) -> list[CatalogueTile]:
    """The catalogue of `org`, one tile per integration, ordered by name."""
    tiles: dict[int, CatalogueTile] = {}
    for destination in catalogue_for(org):
        tile = tiles.setdefault(destination.integration_id, CatalogueTile())
        if destination.channel == DestinationChannel.APPROVED:
            tile.approved = destination
        else:
            tile.internal = destination
    return list(tiles.values())


def tile_of(org: Organization, destination: Destination) -> CatalogueTile:
    """The tile `destination` belongs to in `org`'s catalogue (for the choice of version)."""
    tile = CatalogueTile()
    for sibling in catalogue_for(org).filter(integration_id=destination.integration_id):
        if sibling.channel == DestinationChannel.APPROVED:
            tile.approved = sibling
        else:
            tile.internal = sibling
    return tile


# --- the Connect form -----------------------------------------------------------------------


@dataclass
class ConnectForm:
    """What `destinations/_connect_form.html` shows for one destination: the connection's
    name and project, the version's custom fields and mapping fields, what was typed (never
    a secret) and the refusal, next to its field."""

    destination: Destination
    choices: list[Destination]
    projects: list[Project]
    fields: list[dict[str, Any]]
    mappings: list[dict[str, Any]]
    name: str
    project_id: str
    error: ActionError | None = None

    @property
    def error_field(self) -> str | None:
        return self.error.field if self.error else None

    @property
    def error_is_inline(self) -> bool:
        """Whether the refusal shows next to an input of the form (else above them)."""
        inputs = {"name", "project_id"} | {f["name"] for f in self.fields + self.mappings}
        return self.error_field in inputs


def connect_form(
    destination: Destination,
    *,
    projects: Iterable[Project],
    choices: Iterable[Destination] = (),
    given: Mapping[str, str] | None = None,
    stored_values: Mapping[str, Any] | None = None,
    stored_mapping: Mapping[str, Any] | None = None,
    name: str | None = None,
    error: ActionError | None = None,
) -> ConnectForm:
    """The Connect form of `destination`, refilled from `given` (the posted form) after a
    refusal, or from what a connection holds (`stored_*`) when it is edited. Secrets are
    never refilled: the form says whether one is saved, and blank keeps it."""
    given = given or {}
    stored_values = stored_values or {}
    stored_mapping = stored_mapping or {}
    modal = connect_modal(destination.version.config)
    prefix = f"c{destination.pk}-"
    fields = []
    for raw in modal["fields"]:
        variable, input_name = raw["variable"], f"values.{raw['variable']}"
        saved = bool(raw["secret"] and stored_values.get(variable))
        if raw["secret"]:
            value = ""
        else:
            value = given.get(input_name, stored_values.get(variable) or raw["default"])
        fields.append(
            {**raw, "id": prefix + raw["id"], "name": input_name, "value": value, "saved": saved}
        )
    mappings = []
    for raw in modal["mappings"]:
        input_name = f"mapping.{raw['variable']}"
        value = given.get(input_name) or str(stored_mapping.get(raw["variable"]) or "")
        mappings.append({**raw, "id": prefix + raw["id"], "name": input_name, "value": value})
    projects = list(projects)
    default_name = name if name is not None else destination.version.display_name
    return ConnectForm(
        destination=destination,
        choices=list(choices) or [destination],
        projects=projects,
        fields=fields,
        mappings=mappings,
        name=given.get("name", default_name)[:MAX_CONNECTION_NAME_LENGTH],
        project_id=given.get("project_id", str(projects[0].public_id) if projects else ""),
        error=error,
    )
