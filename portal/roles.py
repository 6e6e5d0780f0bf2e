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
    Access.ORG_MEMBER_OR_PLATFORM_ADMIN: frozenset(
        {Role.ORG_ADMIN, Role.DEVELOPER, Role.MEMBER, Role.PLATFORM_ADMIN}
    ),
    Access.DEVELOPER: frozenset({Role.DEVELOPER}),
    Access.REVIEWER: frozenset({Role.REVIEWER, Role.PLATFORM_ADMIN}),
    Access.REVIEWER_OR_DEVELOPER: frozenset({Role.REVIEWER, Role.PLATFORM_ADMIN, Role.DEVELOPER}),
    Access.PLATFORM_ADMIN: frozenset({Role.PLATFORM_ADMIN}),
}


def holds(role: Role, user: object, membership: Membership | None) -> bool:
    """Whether a person acting for `membership`'s organisation (None: for none) holds
    `role`. *developer* counts only where the organisation's Developer Portal is on."""
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
            # The role first: it costs no query.
            return (
                membership is not None
                and membership.is_developer
                and membership.org.flag_enabled(DEVELOPER_PORTAL)
            )


def roles_of(user: object, membership: Membership | None) -> frozenset[Role]:
    """Every role a person holds (for pages that show what someone may do)."""
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
    # Cheapest roles first: MEMBER and ORG_ADMIN read the membership, DEVELOPER a flag.
    return any(holds(role, user, membership) for role in sorted(MATRIX[access], key=_cost))


def _cost(role: Role) -> int:
    return list(Role).index(role) if role is not Role.DEVELOPER else len(Role)
