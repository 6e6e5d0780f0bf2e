"""Cohorts: CSV uploads loaded by a real worker, the members API, and their errors."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from portal import actions, cohort_csv, cohorts
from portal.models import Cohort, CohortImport, CohortMember
from portal.tasks import cohort_import_run
from tests.waiting import wait_until


def csv_upload(text: str, name: str = "members.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def wait_for(job_id: int, timeout: float = 30) -> CohortImport:
    def finished() -> CohortImport | None:
        job = CohortImport.objects.get(pk=job_id)
        return job if job.is_finished else None

    return wait_until(finished, timeout, "the import did not finish")


@pytest.mark.worker
def test_csv_upload_is_loaded_by_the_worker(cast, celery_worker, client_for):
    cohort = actions.cohort_create(acting_user=cast.alice, project=cast.acme_project, name="VIPs")
    client = client_for(cast.alice)
    client.post(
        reverse("cohort_upload", args=[cohort.public_id]),
        {
            "file": csv_upload(
                "user_id,amplitude_id,email,plan\nu1,101,u1@x.test,pro\nu2,,u2@x.test,free\n"
                "u1,101,u1@x.test,pro\n"
            )
        },
    )
    job = wait_for(CohortImport.objects.get(cohort=cohort).pk)
    assert job.status == "succeeded", job.errors
    cohort.refresh_from_db()
    assert cohort.member_count == 2
    member = CohortMember.objects.get(cohort=cohort, member_key="a:101")
    assert member.as_user() == {
        "user_id": "u1",
        "amplitude_id": 101,
        "device_id": None,
        "email": "u1@x.test",
        "plan": "pro",
    }
    status = client.get(reverse("cohort_import_status", args=[cohort.public_id, job.pk]))
    assert b"2 members loaded from 3 rows (1 duplicate row merged)" in status.content


@pytest.mark.parametrize("reader", ["copy", "python"])
def test_a_member_named_twice_keeps_its_first_row_whichever_way_the_file_is_read(
    cast, monkeypatch, reader
):
    """Plain files are copied into PostgreSQL and checked there; others are read row by
    row in Python (here forced): the same members either way."""
    if reader == "python":
        monkeypatch.setattr(cohort_csv, "load", lambda *args, **kwargs: None)
    cohort = actions.cohort_create(acting_user=cast.alice, project=cast.acme_project, name="Twice")
    text = "user_id,amplitude_id,email,plan,seats\nu1,,,pro,3\nu2,7,u2@x.test,,\nu1,,,free,\n"
    report = cohorts.load_csv(cohort, io.BytesIO(text.encode()))
    assert (report.rows_read, report.rows_loaded, report.duplicates) == (3, 2, 1)
    first = CohortMember.objects.get(cohort=cohort, member_key="u:u1")
    assert first.properties == {"plan": "pro", "seats": "3"}
    second = CohortMember.objects.get(cohort=cohort, member_key="a:7")
    assert (second.user_id, second.amplitude_id, second.email) == ("u2", 7, "u2@x.test")
    # A second load in the same transaction replaces the members again.
    cohorts.load_csv(cohort, io.BytesIO(b"user_id\nu3\n"))
    assert list(
        CohortMember.objects.filter(cohort=cohort).values_list("member_key", flat=True)
    ) == ["u:u3"]


@pytest.mark.worker
def test_a_csv_with_errors_changes_nothing_and_names_the_rows(cast, celery_worker, client_for):
    cohort = actions.cohort_create(acting_user=cast.alice, project=cast.acme_project, name="Trial")
    actions.cohort_members_add(
        acting_user=cast.alice, cohort=cohort, members=[{"user_id": "keep-me"}]
    )
    client_for(cast.alice).post(
        reverse("cohort_upload", args=[cohort.public_id]),
        {"file": csv_upload("user_id,amplitude_id\nok,1\n,\nbad,12x\n")},
    )
    job = wait_for(CohortImport.objects.get(cohort=cohort).pk)
    assert job.status == "failed"
    assert job.errors == [
        {"row": 3, "message": "needs a user_id or an amplitude_id"},
        {"row": 4, "message": "amplitude_id '12x' is not a whole number"},
    ]
    assert list(CohortMember.objects.filter(cohort=cohort).values_list("user_id", flat=True)) == [
        "keep-me"
    ]


def test_a_redelivered_import_message_fails_the_import_its_dead_worker_left(cast):
    cohort = actions.cohort_create(
        acting_user=cast.alice, project=cast.acme_project, name="Redelivered"
    )
    job = CohortImport.objects.create(cohort=cohort)
    assert CohortImport.claim(job.pk)  # by the worker that then died

    cohort_import_run(job.pk)  # the message handed out again

    job.refresh_from_db()
    assert job.status == "failed" and job.finished_at is not None
    assert "upload it again" in job.errors[0]["message"]


def test_csv_without_an_identifier_column_is_refused(cast):
    cohort = actions.cohort_create(acting_user=cast.alice, project=cast.acme_project, name="X")
    report = cohorts.load_members(cohort, cohorts.iter_csv_rows(io.StringIO("email\na@b.test\n")))
    assert not report.ok
    assert "must have a user_id or an amplitude_id column" in report.errors[0]["message"]


def test_upload_refuses_non_csv_files(cast, client_for):
    cohort = actions.cohort_create(acting_user=cast.alice, project=cast.acme_project, name="Y")
    response = client_for(cast.alice).post(
        reverse("cohort_upload", args=[cohort.public_id]),
        {"file": csv_upload("GIF89a", name="cat.gif")},
        follow=True,
    )
    assert b"Upload a .csv file" in response.content
    assert not CohortImport.objects.exists()


def test_a_large_file_streams_in_chunks(cast):
    """200,000 rows load through the chunked path; the bench measures a million."""
    cohort = actions.cohort_create(acting_user=cast.alice, project=cast.acme_project, name="Big")

    def rows():
        yield "user_id,amplitude_id\n"
        for index in range(200_000):
            yield f"user-{index},{index}\n"

    stream = io.StringIO("".join(rows()))
    report = cohorts.load_members(cohort, cohorts.iter_csv_rows(stream))
    assert report.ok and report.rows_loaded == 200_000
    cohort.refresh_from_db()
    assert cohort.member_count == 200_000


def test_members_api_replace_add_remove(cast):
    _, raw = actions.token_create(acting_user=cast.alice, org=cast.acme, name="api")
    api = Client(HTTP_AUTHORIZATION=f"Token {raw}")
    created = api.post(
        f"/api/v1/projects/{cast.acme_project.public_id}/cohorts/",
        {"name": "API cohort"},
        content_type="application/json",
    )
    assert created.status_code == 201
    cohort_id = created.json()["cohort_id"]
    url = f"/api/v1/cohorts/{cohort_id}/members/"
    replaced = api.put(
        url,
        {"members": [{"user_id": "a"}, {"user_id": "b", "tier": "gold"}]},
        content_type="application/json",
    )
    assert replaced.json() == {
        "cohort_id": cohort_id,
        "snapshot": 1,
        "entered": 2,
        "left": 0,
        "updated": 0,
        "total": 2,
        "duplicates": 0,
    }
    added = api.post(
        url + "add",
        {"members": [{"user_id": "c"}, {"user_id": "a"}]},
        content_type="application/json",
    ).json()
    assert (added["snapshot"], added["entered"], added["total"]) == (2, 1, 3)
    removed = api.post(
        url + "remove", {"members": [{"user_id": "b"}]}, content_type="application/json"
    ).json()
    assert (removed["snapshot"], removed["left"], removed["total"]) == (3, 1, 2)
    listed = api.get(url).json()
    assert [m["user_id"] for m in listed["results"]] == ["a", "c"]
    bad = api.put(
        url,
        {"members": [{"user_id": "z"}, {"email": "no-id@x.test"}]},
        content_type="application/json",
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["message"] == "members[1]: needs a user_id or an amplitude_id"
    assert Cohort.objects.get(public_id=cohort_id).member_count == 2


def test_a_projects_cohorts_are_listed_a_page_at_a_time(cast, client_for):
    for index in range(27):
        actions.cohort_create(
            acting_user=cast.alice, project=cast.acme_project, name=f"Cohort {index:02d}"
        )
    url = reverse("project_detail", args=[cast.acme_project.public_id])
    client = client_for(cast.alice)
    first = client.get(url).content.decode()
    assert "Cohort 24" in first and "Cohort 25" not in first
    assert "Page 1 of 2 · 27 in all" in first
    second = client.get(url, {"page": "2"}).content.decode()
    assert "Cohort 25" in second and "Cohort 26" in second and "Cohort 00" not in second


# --------------------------------------------------------------------------------------
# Pages: who sees the buttons that change cohorts, and who may press them


def test_plain_members_read_cohorts_without_the_buttons_that_change_them(cast, client_for):
    cohort = actions.cohort_create(acting_user=cast.alice, project=cast.acme_project, name="VIPs")
    actions.cohort_members_replace(
        acting_user=cast.alice, cohort=cohort, members=[{"user_id": "a"}]
    )
    project_url = reverse("project_detail", args=[cast.acme_project.public_id])
    cohort_url = reverse("cohort_detail", args=[cohort.public_id])
    alan, alice = client_for(cast.alan), client_for(cast.alice)

    as_alan = alan.get(cohort_url).content.decode()
    assert "VIPs" in as_alan and "Upload CSV" not in as_alan and "Delete cohort" not in as_alan
    assert "Org admins and developers change cohorts" in as_alan
    assert "Create cohort" not in alan.get(project_url).content.decode()

    as_alice = alice.get(cohort_url).content.decode()
    assert "Upload CSV" in as_alice and "Delete cohort" in as_alice
    assert "Create cohort" in alice.get(project_url).content.decode()


def test_plain_members_cannot_change_cohorts_from_the_pages(cast, client_for):
    cohort = actions.cohort_create(acting_user=cast.alice, project=cast.acme_project, name="VIPs")
    alan = client_for(cast.alan)
    posts = [
        (reverse("cohort_create", args=[cast.acme_project.public_id]), {"name": "Mine"}),
        (reverse("cohort_upload", args=[cohort.public_id]), {"file": csv_upload("user_id\nx\n")}),
        (reverse("cohort_delete", args=[cohort.public_id]), {"confirm": "VIPs"}),
    ]
    for url, data in posts:
        response = alan.post(url, data)
        assert response.status_code == 403
        assert b"Only org admins and developers can create, change and delete cohorts" in (
            response.content
        )
    assert list(Cohort.objects.values_list("name", flat=True)) == ["VIPs"]
    assert not CohortImport.objects.exists()


def test_the_cohort_page_lists_its_recent_changes(cast, client_for):
    cohort = actions.cohort_create(acting_user=cast.alice, project=cast.acme_project, name="VIPs")
    actions.cohort_members_replace(
        acting_user=cast.alice, cohort=cohort, members=[{"user_id": "a"}, {"user_id": "b"}]
    )
    actions.cohort_members_change(
        acting_user=cast.alice, cohort=cohort, add=[{"user_id": "c"}], remove=[{"user_id": "a"}]
    )
    page = client_for(cast.alan).get(reverse("cohort_detail", args=[cohort.public_id]))
    html = page.content.decode()
    assert "data-snapshot>2<" in html
    rows = html.split('id="recent-changes"')[1].split("</table>")[0]
    assert rows.index(">2<") < rows.index(">1<")  # newest first
    assert "+1" in rows and "−1" in rows and "+2" in rows and "alice@acme.test" in rows
