"""Numbers and return addresses typed into the platform pages and the tenancy API: a bad
id is a clear 400 (or an ignored filter, where the page ignores other bad values) and
changes nothing; a return address is followed only when it stays on this site."""

from __future__ import annotations

import pytest
from django.urls import reverse

from portal.flags import DEVELOPER_PORTAL
from portal.models import AuditEvent

SUPERSCRIPT_TWO = "²"


@pytest.mark.parametrize("org", [SUPERSCRIPT_TWO, "abc", "9" * 30])
def test_the_audit_log_api_refuses_a_bad_org(cast, api_for, org):
    response = api_for(cast.adam, None).get("/api/v1/audit-log/", {"org": org})
    assert response.status_code == 400
    assert "org" in response.json()["error"]["fields"]


def test_the_audit_log_api_filters_by_org(cast, api_for):
    response = api_for(cast.adam, None).get("/api/v1/audit-log/", {"org": cast.globex.pk})
    rows = response.json()["results"]
    assert response.status_code == 200 and rows
    assert {row["org_id"] for row in rows} == {cast.globex.pk}


@pytest.mark.parametrize("search", [SUPERSCRIPT_TWO, "9" * 30])
def test_the_org_search_treats_a_non_id_as_a_name(cast, client_for, search):
    response = client_for(cast.adam).get(reverse("platform_orgs"), {"q": search})
    assert response.status_code == 200
    assert "Acme Audiences" not in response.content.decode()


def test_the_org_search_finds_an_id(cast, client_for):
    response = client_for(cast.adam).get(reverse("platform_orgs"), {"q": str(cast.acme.pk)})
    assert response.status_code == 200 and "Acme Audiences" in response.content.decode()


@pytest.mark.parametrize(
    "back",
    [
        "https://evil.example/phish",
        "//evil.example/phish",
        "/\\evil.example",
        "javascript:alert(1)",
        "",
        None,
    ],
)
def test_the_flag_toggle_returns_only_to_a_page_of_this_site(cast, client_for, back):
    data = {"flag": DEVELOPER_PORTAL, "enabled": "false"}
    if back is not None:
        data["back"] = back
    response = client_for(cast.adam).post(reverse("platform_org_flag", args=[cast.acme.pk]), data)
    assert response.status_code == 302 and response["Location"] == reverse("platform_orgs")
    assert not cast.acme.flag_enabled(DEVELOPER_PORTAL)


def test_the_flag_toggle_returns_to_the_page_it_came_from(cast, client_for):
    back = reverse("platform_orgs") + "?q=Acme&page=1"
    response = client_for(cast.adam).post(
        reverse("platform_org_flag", args=[cast.acme.pk]),
        {"flag": DEVELOPER_PORTAL, "enabled": "true", "back": back},
    )
    assert response.status_code == 302 and response["Location"] == back


def test_a_refused_flag_toggle_changes_nothing_and_goes_back_home(cast, client_for):
    before = AuditEvent.objects.count()
    response = client_for(cast.adam).post(
        reverse("platform_org_flag", args=[cast.acme.pk]),
        {"flag": "teleport", "enabled": "true", "back": "https://evil.example/"},
    )
    assert response["Location"] == reverse("platform_orgs")
    assert AuditEvent.objects.count() == before
