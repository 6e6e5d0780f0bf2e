"""Who may do what: the role matrix of docs/roles.md, in one place.

A person holds roles (`roles_of`): in the organisation they act for, *admin* and/or
*developer* or a plain *member*; on the platform, *reviewer* or *platform admin* (who
reviews too). Every route needs one `Access`; `allows` is the only place that decides
whether someone's roles grant it. The page decorators (`portal.access`) and the API's
permission classes (`portal.api.permissions`) ask it, and carry the access they enforce
(`access` on a decorated view, on a permission class), so that the route-by-route test
(tests/portal/test_roles.py) can compare every route with the matrix.

What a role sees *inside* a route (another organisation's object is a 404) is scoping,
not access: `portal.access` and `integrations.access`.
"""

from __future__ import annotations

from enum import StrEnum

from portal.flags import DEVELOPER_PORTAL
from portal.models import Membership, User


class Role(StrEnum):
    ORG_ADMIN = "org admin"
    DEVELOPER = "developer"
    MEMBER = "member"
    REVIEWER = "reviewer"
    PLATFORM_ADMIN = "platform admin"


class Access(StrEnum):
    """What a route needs."""

    ANYONE = "anyone"
    SIGNED_IN = "signed in"
    ORG_MEMBER = "member of an organisation"
    ORG_ADMIN = "admin of the organisation"
    # Changing the organisation's cohorts, connections and syncs: admins and developers.
    ORG_EDITOR = "admin or developer of the organisation"
    # Lists about organisations: members see their own's, platform admins everyone's.
    ORG_MEMBER_OR_PLATFORM_ADMIN = "member of an organisation, or platform admin"
    # The developer permission in an organisation whose Developer Portal flag is on.
    DEVELOPER = "developer (portal on)"
    REVIEWER = "reviewer"
    REVIEWER_OR_DEVELOPER = "reviewer, or developer of the organisation"
    PLATFORM_ADMIN = "platform admin"


# The matrix: the roles each access admits (ANYONE and SIGNED_IN admit without a role).
MATRIX: dict[Access, frozenset[Role]] = {
    Access.ORG_MEMBER: frozenset({Role.ORG_ADMIN, Role.DEVELOPER, Role.MEMBER}),
    Access.ORG_ADMIN: frozenset({Role.ORG_ADMIN}),
    Access.ORG_EDITOR: frozenset({Role.ORG_ADMIN, Role.DEVELOPER}),
    Access.ORG_MEMBER_OR_PLATFORM_ADMIN: frozenset(
        {Role.ORG_ADMIN, Role.DEVELOPER, Role.MEMBER, Role.PLATFORM_ADMIN}
    ),
    Access.DEVELOPER: frozenset({Role.DEVELOPER}),
    Access.REVIEWER: frozenset({Role.REVIEWER, Role.PLATFORM_ADMIN}),
    Access.REVIEWER_OR_DEVELOPER: frozenset({Role.REVIEWER, Role.PLATFORM_ADMIN, Role.DEVELOPER}),
    Access.PLATFORM_ADMIN: frozenset({Role.PLATFORM_ADMIN}),
}


# Accesses of the Developer Portal: there the developer role counts only while the
# organisation's Developer Portal flag is on.
PORTAL_ACCESSES = frozenset({Access.DEVELOPER, Access.REVIEWER_OR_DEVELOPER})


def holds(role: Role, user: object, membership: Membership | None) -> bool:
    """Whether a person acting for `membership`'s organisation (None: for none) holds
    `role` (*developer*: the developer permission, whatever the portal flag)."""
    person = user if isinstance(user, User) and user.is_authenticated else None
    match role:
        case Role.REVIEWER:
            return person is not None and person.is_reviewer
        case Role.PLATFORM_ADMIN:
            return person is not None and person.is_platform_admin
        case Role.MEMBER:
            return membership is not None
        case Role.ORG_ADMIN:
            return membership is not None and membership.is_admin
        case Role.DEVELOPER:
            return membership is not None and membership.is_developer


def roles_of(user: object, membership: Membership | None) -> frozenset[Role]:
    """Every role a person holds (*developer* even where the portal is off)."""
    return frozenset(role for role in Role if holds(role, user, membership))


def allows(access: Access, user: object, membership: Membership | None) -> bool:
    """Whether someone (signed out: an AnonymousUser) may use a route that needs
    `access`: the one decision every page decorator and API permission asks for."""
    if access is Access.ANYONE:
        return True
    if not (isinstance(user, User) and user.is_authenticated):
        return False
    if access is Access.SIGNED_IN:
        return True
    return any(_grants(role, access, user, membership) for role in MATRIX[access])


def org_allows(access: Access, membership: Membership | None) -> bool:
    """`allows` for a check that has a membership in hand (whose user is signed in):
    only the organisation's roles count."""
    if membership is None:
        return False
    return any(_grants(role, access, None, membership) for role in MATRIX.get(access, ()))


def _grants(role: Role, access: Access, user: object, membership: Membership | None) -> bool:
    if not holds(role, user, membership):
        return False
    if role is Role.DEVELOPER and access in PORTAL_ACCESSES:
        # The role first, the flag (a query) second.
        return membership is not None and membership.org.flag_enabled(DEVELOPER_PORTAL)
    return True
