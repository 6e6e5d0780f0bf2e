"""Cohort members at the limits: identifiers of the longest allowed length, numbers too long
to be identifiers, the NUL character, and CSV imports that must never stay "running"."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from portal import actions, cohorts
from portal.errors import ActionError
from portal.models import CohortImport, CohortMember
from portal.tasks import STORE_FAILED_MESSAGE, cohort_import_run

LONGEST = "u" * cohorts.MAX_VALUE_LENGTH


@pytest.fixture
def cohort(cast):
    cohort = actions.cohort_create(acting_user=cast.alice, project=cast.acme_project, name="VIPs")
    actions.cohort_members_add(
        acting_user=cast.alice, cohort=cohort, members=[{"user_id": "keep-me"}]
    )
    return cohort


def member_keys(cohort) -> list[str]:
    return sorted(CohortMember.objects.filter(cohort=cohort).values_list("member_key", flat=True))


# --------------------------------------------------------------------------------------
# The longest identifiers


def test_a_user_id_of_the_longest_allowed_length_is_stored(cast, cohort):
    report = actions.cohort_members_add(
        acting_user=cast.alice, cohort=cohort, members=[{"user_id": LONGEST}]
    )
    assert report.total == 2
    assert member_keys(cohort) == sorted(["u:keep-me", "u:" + LONGEST])


def test_a_user_id_one_character_too_long_is_refused(cast, cohort):
    with pytest.raises(ActionError, match="members\\[0\\]: user_id is longer than 200 characters"):
        actions.cohort_members_add(
            acting_user=cast.alice, cohort=cohort, members=[{"user_id": LONGEST + "u"}]
        )
    assert member_keys(cohort) == ["u:keep-me"]


@pytest.mark.parametrize("column", ["user_id", "device_id", "email"])
def test_a_number_too_long_to_be_an_identifier_is_refused_by_the_api(alice_api, cohort, column):
    url = f"/api/v1/cohorts/{cohort.public_id}/members/"
    for method, suffix in (("put", ""), ("post", "add")):
        response = getattr(alice_api, method)(
            url + suffix, {"members": [{"amplitude_id": 7, column: 10**250}]}, format="json"
        )
        assert response.status_code == 400
        assert response.json()["error"]["message"] == (
            f"members[0]: {column} is longer than 200 characters"
        )
    assert member_keys(cohort) == ["u:keep-me"]


def test_numbers_are_stored_as_text_identifiers(cast, cohort):
    actions.cohort_members_add(
        acting_user=cast.alice, cohort=cohort, members=[{"user_id": 10**199, "device_id": 12}]
    )
    member = CohortMember.objects.get(cohort=cohort, member_key="u:" + str(10**199))
    assert (member.user_id, member.device_id) == (str(10**199), "12")


def test_an_amplitude_id_out_of_range_is_refused(cast, cohort):
    with pytest.raises(ActionError, match="amplitude_id is out of range"):
        actions.cohort_members_add(
            acting_user=cast.alice, cohort=cohort, members=[{"amplitude_id": 10**250}]
        )
    assert member_keys(cohort) == ["u:keep-me"]


# --------------------------------------------------------------------------------------
# The NUL character (the actions, whatever parsed the input)


@pytest.mark.parametrize(
    "member, message",
    [
        ({"user_id": "a\x00b"}, "user_id must not contain the NUL character (\\u0000)"),
        ({"user_id": "a", "plan": "x\x00"}, "plan must not contain the NUL character"),
        (
            {"user_id": "a", "properties": {"tier": ["gold", "\x00"]}},
            "properties.tier must not contain the NUL character",
        ),
        (
            {"user_id": "a", "pl\x00an": "x"},
            "column and property names must not contain the NUL character (\\u0000): pl\\u0000an",
        ),
    ],
)
def test_nul_anywhere_in_a_member_is_refused_naming_the_column(cast, cohort, member, message):
    for change in (actions.cohort_members_add, actions.cohort_members_replace):
        with pytest.raises(ActionError) as refused:
            change(acting_user=cast.alice, cohort=cohort, members=[{"user_id": "ok"}, member])
        assert refused.value.message.startswith(f"members[1]: {message}")
        assert refused.value.status == 400
    assert member_keys(cohort) == ["u:keep-me"]


# --------------------------------------------------------------------------------------
# CSV imports, run by the task itself


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def run_import(cast, cohort, text: str) -> CohortImport:
    upload = SimpleUploadedFile("members.csv", text.encode(), content_type="text/csv")
    job = actions.cohort_import_start(acting_user=cast.alice, cohort=cohort, upload=upload)
    cohort_import_run(job.pk)
    job.refresh_from_db()
    return job


def test_a_csv_with_the_longest_user_id_loads(cast, cohort, media):
    job = run_import(cast, cohort, f"user_id,plan\n{LONGEST},pro\n")
    assert job.status == "succeeded", job.errors
    assert member_keys(cohort) == ["u:" + LONGEST]


def test_a_csv_with_nul_fails_naming_the_row_and_column(cast, cohort, media):
    job = run_import(cast, cohort, "user_id,plan\nfine,pro\nbad\x00id,pro\nok,x\x00\n")
    assert job.status == "failed"
    assert job.errors == [
        {"row": 3, "message": "user_id must not contain the NUL character (\\u0000)"},
        {"row": 4, "message": "plan must not contain the NUL character (\\u0000)"},
    ]
    assert job.finished_at is not None
    assert member_keys(cohort) == ["u:keep-me"]


def test_a_csv_with_nul_in_the_header_fails(cast, cohort, media):
    job = run_import(cast, cohort, "user_id,pl\x00an\nfine,pro\n")
    assert job.status == "failed"
    assert "column and property names must not contain the NUL" in job.errors[0]["message"]
    assert member_keys(cohort) == ["u:keep-me"]


def test_an_import_the_database_refuses_ends_failed_not_running(cast, cohort, media):
    # A real database refusal the validation does not know about: a constraint added for
    # this test only (the test's transaction rolls it back).
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending checks block ALTER TABLE
        cursor.execute(
            "ALTER TABLE portal_cohortmember ADD CONSTRAINT test_refuses_boom "
            "CHECK (user_id <> 'boom')"
        )
    job = run_import(cast, cohort, "user_id\nfine\nboom\n")
    assert job.status == "failed"
    assert job.errors == [{"row": None, "message": STORE_FAILED_MESSAGE}]
    assert job.finished_at is not None
    assert member_keys(cohort) == ["u:keep-me"]
    cohort.refresh_from_db()
    assert cohort.member_count == 1
