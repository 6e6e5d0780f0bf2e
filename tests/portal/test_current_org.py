"""Which organisation a request acts for (portal/tenancy.py), and what the navigation shows
of the person's other organisations."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from portal.models import MemberRole, Membership


def switcher_orgs(page) -> list[str]:
    """The organisations named in the navigation's switcher, in its order."""
    html = page.content.decode()
    if 'id="org-switch"' not in html:
        return []
    options = html.split('id="org-switch"', 1)[1].split("</select>", 1)[0]
    return [part.split(">", 1)[1].split("<", 1)[0] for part in options.split("<option")[1:]]


def test_a_person_in_two_orgs_acts_for_the_oldest_until_switching(cast, client_for):
    # Alice joins Globex as a member, after founding Acme: Acme stays her org.
    Membership.objects.create(user=cast.alice, org=cast.globex, role=MemberRole.MEMBER)
    client = client_for(cast.alice)
    page = client.get(reverse("dashboard"))
    assert switcher_orgs(page) == ["Acme Audiences", "Globex Analytics"]
    # Acme's Developer Portal is on, Globex's is off: each page knows which.
    assert 'href="/portal/"' in page.content.decode()

    client.post(reverse("org_switch"), {"org": cast.globex.pk})
    page = client.get(reverse("dashboard"))
    assert switcher_orgs(page) == ["Globex Analytics", "Acme Audiences"]
    assert 'href="/portal/"' not in page.content.decode()
    assert client.get(reverse("portal_home")).status_code == 403


def test_one_query_reads_the_memberships_and_the_portal_flag(cast, client_for):
    Membership.objects.create(user=cast.alice, org=cast.globex, role=MemberRole.MEMBER)
    client = client_for(cast.alice)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("portal_home")).status_code == 200
    memberships = [q["sql"] for q in queries if 'FROM "portal_membership"' in q["sql"]]
    flags = [q["sql"] for q in queries if '"portal_orgflag"' in q["sql"]]
    assert len(memberships) == 1
    assert flags == memberships


def test_someone_in_one_org_sees_no_switcher(cast, client_for):
    page = client_for(cast.bob).get(reverse("dashboard"))
    assert switcher_orgs(page) == []
    assert f"Globex Analytics · ORG ID {cast.globex.pk}" in page.content.decode()
