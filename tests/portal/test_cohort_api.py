"""The cohort members API: PUT a full snapshot (JSON or CSV), PATCH additions and removals,
the answers (snapshot and counts), errors that name the member or line at fault, size
limits, and who may write: org admins and developers; plain members read; other orgs 404.
"""

from __future__ import annotations

import pytest

from portal import actions
from portal.api import parsers
from portal.models import CohortChange, CohortMember, MemberRole, Membership, User
from tests.conftest import PASSWORD


@pytest.fixture
def cohort(cast):
    cohort = actions.cohort_create(acting_user=cast.alice, project=cast.acme_project, name="VIPs")
    actions.cohort_members_replace(
        acting_user=cast.alice, cohort=cohort, members=[{"user_id": "a"}, {"user_id": "b"}]
    )
    return cohort


def url(cohort) -> str:
    return f"/api/v1/cohorts/{cohort.public_id}/members/"


def keys(cohort) -> set[str]:
    return set(CohortMember.objects.filter(cohort=cohort).values_list("member_key", flat=True))


def test_put_a_json_snapshot(alice_api, cohort):
    response = alice_api.put(
        url(cohort), {"members": [{"user_id": "b"}, {"user_id": "c"}]}, format="json"
    )
    assert response.status_code == 200
    assert response.json() == {
        "cohort_id": cohort.public_id,
        "snapshot": 2,
        "entered": 1,
        "left": 1,
        "updated": 0,
        "total": 2,
        "duplicates": 0,
    }
    assert keys(cohort) == {"u:b", "u:c"}


def test_put_a_bare_json_array(alice_api, cohort):
    response = alice_api.put(url(cohort), [{"amplitude_id": 5}, {"user_id": "a"}], format="json")
    assert response.status_code == 200
    assert (response.json()["entered"], response.json()["left"]) == (1, 1)
    assert keys(cohort) == {"a:5", "u:a"}


def test_put_a_csv_snapshot(alice_api, cohort):
    body = "user_id,amplitude_id,plan\na,,pro\nc,3,free\nc,3,again\n"
    response = alice_api.put(url(cohort), body, content_type="text/csv; charset=utf-8")
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "cohort_id": cohort.public_id,
        "snapshot": 2,
        "entered": 1,
        "left": 1,
        "updated": 1,
        "total": 2,
        "duplicates": 1,
    }
    assert keys(cohort) == {"u:a", "a:3"}
    assert set(
        CohortChange.objects.filter(cohort=cohort, snapshot=2).values_list("member_key", "entered")
    ) == {("a:3", True), ("u:b", False)}


def test_a_csv_snapshot_with_bad_rows_names_their_lines_and_changes_nothing(alice_api, cohort):
    body = "user_id,amplitude_id\nok,1\n,\nbad,12x\n"
    response = alice_api.put(url(cohort), body, content_type="text/csv")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] == "line 3: needs a user_id or an amplitude_id"
    assert error["fields"] == {"members": ["line 3: needs a user_id or an amplitude_id"]}
    assert error["details"] == [
        {"row": 3, "message": "needs a user_id or an amplitude_id"},
        {"row": 4, "message": "amplitude_id '12x' is not a whole number"},
    ]
    assert keys(cohort) == {"u:a", "u:b"}


def test_a_csv_body_too_large_is_refused_before_it_is_read(alice_api, cohort, monkeypatch):
    monkeypatch.setattr(parsers, "MAX_CSV_BODY_BYTES", 100)
    body = "user_id\n" + "".join(f"user-{n}\n" for n in range(50))
    response = alice_api.put(url(cohort), body, content_type="text/csv")
    assert response.status_code == 413
    assert response.json()["error"]["message"].startswith("A CSV body may hold at most")
    assert keys(cohort) == {"u:a", "u:b"}


def test_a_json_snapshot_with_a_bad_member_names_it(alice_api, cohort):
    response = alice_api.put(
        url(cohort),
        {"members": [{"user_id": "z"}, {"email": "no-id@x.test"}, "text"]},
        format="json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] == (
        "members[1]: needs a user_id or an amplitude_id; "
        "members[2]: each member must be an object with user_id or amplitude_id"
    )
    assert list(error["fields"]) == ["members"]
    assert keys(cohort) == {"u:a", "u:b"}


def test_too_many_members_in_one_request_are_refused(alice_api, cohort):
    many = [{"user_id": f"u{n}"} for n in range(10_001)]
    for method, body in (("put", {"members": many}), ("patch", {"add": many})):
        response = getattr(alice_api, method)(url(cohort), body, format="json")
        assert response.status_code == 400
        field = "members" if method == "put" else "add"
        assert response.json()["error"]["message"] == (
            f"{field}: at most 10,000 members per request; upload a CSV for more"
        )
    response = alice_api.put(url(cohort), many, format="json")
    assert response.status_code == 400
    assert "at most 10,000 members per request" in response.json()["error"]["message"]
    assert keys(cohort) == {"u:a", "u:b"}


def test_patch_adds_and_removes_as_one_change(alice_api, cohort):
    response = alice_api.patch(
        url(cohort),
        {"add": [{"user_id": "c"}, {"user_id": "a", "plan": "pro"}], "remove": [{"user_id": "b"}]},
        format="json",
    )
    assert response.status_code == 200
    assert response.json() == {
        "cohort_id": cohort.public_id,
        "snapshot": 2,
        "entered": 1,
        "left": 1,
        "updated": 1,
        "total": 2,
        "duplicates": 0,
    }
    assert keys(cohort) == {"u:a", "u:c"}


def test_a_patch_that_changes_nothing_keeps_the_snapshot(alice_api, cohort):
    for body in ({}, {"add": [{"user_id": "a"}]}, {"remove": [{"user_id": "nobody"}]}):
        response = alice_api.patch(url(cohort), body, format="json")
        assert response.status_code == 200
        assert (response.json()["snapshot"], response.json()["total"]) == (1, 2)


def test_patch_errors_name_the_list_and_the_member(alice_api, cohort):
    response = alice_api.patch(
        url(cohort), {"add": [{"user_id": "c"}, {"amplitude_id": "x"}]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "add[1]: amplitude_id 'x' is not a whole number"
    assert response.json()["error"]["fields"] == {
        "add": ["add[1]: amplitude_id 'x' is not a whole number"]
    }
    both = alice_api.patch(
        url(cohort), {"add": [{"user_id": "c"}], "remove": [{"user_id": "c"}]}, format="json"
    )
    assert both.status_code == 400
    assert both.json()["error"]["message"].startswith("remove[0]: the member u:c is also added")
    assert keys(cohort) == {"u:a", "u:b"}


def test_the_cohort_shows_its_snapshot(alice_api, cohort):
    response = alice_api.get(f"/api/v1/cohorts/{cohort.public_id}/")
    assert (response.json()["snapshot"], response.json()["size"]) == (1, 2)


def test_the_schema_describes_the_snapshot_and_the_patch(alice_api):
    schema = alice_api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    members = schema["paths"]["/api/v1/cohorts/{cohort_id}/members/"]
    assert set(members["put"]["requestBody"]["content"]) >= {"application/json", "text/csv"}
    patch = members["patch"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert patch.endswith("/PatchedMembersChangeInputRequest")
    assert members["patch"]["responses"]["200"]["content"]["application/json"]["schema"][
        "$ref"
    ].endswith("/MembersChange")


# --------------------------------------------------------------------------------------
# Who may write


@pytest.fixture
def dana(cast):
    """A developer of Acme who is not an admin: writes cohorts."""
    user = User.objects.create_user("dana@acme.test", PASSWORD, full_name="Dana Developer")
    Membership.objects.create(user=user, org=cast.acme, role=MemberRole.MEMBER, is_developer=True)
    return user


# (method, path, body, the answer to someone allowed)
WRITES = [
    ("post", "/api/v1/projects/{project}/cohorts/", {"name": "New one"}, 201),
    ("put", "/api/v1/cohorts/{cohort}/members/", {"members": [{"user_id": "x"}]}, 200),
    ("patch", "/api/v1/cohorts/{cohort}/members/", {"add": [{"user_id": "x"}]}, 200),
    ("post", "/api/v1/cohorts/{cohort}/members/add", {"members": [{"user_id": "x"}]}, 200),
    ("post", "/api/v1/cohorts/{cohort}/members/remove", {"members": [{"user_id": "a"}]}, 200),
    ("delete", "/api/v1/cohorts/{cohort}/", None, 204),
]
READS = [
    "/api/v1/projects/{project}/cohorts/",
    "/api/v1/cohorts/{cohort}/",
    "/api/v1/cohorts/{cohort}/members/",
]


def path(template: str, cast, cohort) -> str:
    return template.format(project=cast.acme_project.public_id, cohort=cohort.public_id)


@pytest.mark.parametrize(("method", "template", "body", "allowed"), WRITES)
def test_a_plain_member_cannot_write_cohorts(
    cast, cohort, api_for, method, template, body, allowed
):
    api = api_for(cast.alan, cast.acme)
    response = getattr(api, method)(path(template, cast, cohort), body, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["message"] == (
        "Only org admins and developers can create, change and delete cohorts."
    )
    cohort.refresh_from_db()
    assert (cohort.snapshot, keys(cohort)) == (1, {"u:a", "u:b"})


@pytest.mark.parametrize("template", READS)
def test_a_plain_member_reads_cohorts(cast, cohort, api_for, template):
    assert api_for(cast.alan, cast.acme).get(path(template, cast, cohort)).status_code == 200


@pytest.mark.parametrize("who", ["developer", "admin"])
@pytest.mark.parametrize(("method", "template", "body", "allowed"), WRITES)
def test_developers_and_admins_write_cohorts(
    cast, cohort, api_for, dana, who, method, template, body, allowed
):
    person = dana if who == "developer" else cast.alice
    response = getattr(api_for(person, cast.acme), method)(
        path(template, cast, cohort), body, format="json"
    )
    assert response.status_code == allowed, response.content


@pytest.mark.parametrize(("method", "template", "body", "allowed"), WRITES[1:])
def test_another_orgs_cohort_is_not_found(cast, cohort, api_for, method, template, body, allowed):
    api = api_for(cast.bob, cast.globex)
    response = getattr(api, method)(path(template, cast, cohort), body, format="json")
    assert response.status_code == 404
    assert keys(cohort) == {"u:a", "u:b"}


def test_an_empty_csv_snapshot_is_a_400_and_changes_nothing(alice_api, cohort):
    response = alice_api.put(url(cohort), "", content_type="text/csv")
    assert response.status_code == 400
    assert "CSV body is empty" in response.json()["error"]["message"]
    assert keys(cohort) == {"u:a", "u:b"}


def test_properties_that_are_not_an_object_are_a_400_and_change_nothing(alice_api, cohort):
    response = alice_api.patch(
        url(cohort), {"add": [{"user_id": "x", "properties": None}]}, format="json"
    )
    assert response.status_code == 400
    assert "properties must be an object" in response.json()["error"]["message"]
    assert keys(cohort) == {"u:a", "u:b"}


def test_a_bare_array_snapshot_is_checked_like_the_members_object(alice_api, cohort):
    response = alice_api.put(url(cohort), [{"user_id": "x", "properties": [1, 2]}], format="json")
    assert response.status_code == 400
    assert "properties must be an object" in response.json()["error"]["message"]
    assert keys(cohort) == {"u:a", "u:b"}


def test_a_change_sent_as_csv_is_refused_and_changes_nothing(alice_api, cohort):
    response = alice_api.patch(url(cohort), "user_id\nz\n", content_type="text/csv")
    assert response.status_code == 415
    assert keys(cohort) == {"u:a", "u:b"}
