"""The shared cast of people and organisations (built by `tests.conftest.build_cast`)."""

from __future__ import annotations

from dataclasses import dataclass

from portal.models import Organization, Project, User


@dataclass
class Cast:
    alice: User
    alan: User
    bob: User
    rita: User
    adam: User
    acme: Organization
    globex: Organization
    acme_project: Project
    globex_project: Project
