"""The Testing panel's pages and fragments (server side; the browser test drives them live)."""

from __future__ import annotations

from integrations import actions as integration_actions
from syncengine import actions, testruns
from syncengine.models import TestRun, TestSettings
from tests.syncengine.conftest import BASE, TOKEN, list_manifest, make_draft, save_settings

HTMX = {"HTTP_HX_REQUEST": "true"}


def page_url(draft, rest: str = "") -> str:
    return f"/portal/integrations/{draft.pk}/test/{rest}"


def form(cast, **changes) -> dict[str, str]:
    data = {
        "project_id": str(cast.acme_project.public_id),
        "api_key": cast.acme_project.api_key,
        "values.bearer_token": TOKEN,
        "values.region": "us",
        "mapping.user_id_field": "user_id",
        "users_source": "generated",
        "users_count": "12",
        "list_id": "",
        "kind": "full",
    }
    data.update(changes)
    return data


def test_the_test_page_shows_the_form_and_empty_states(cast, client_for, draft):
    response = client_for(cast.alice).get(page_url(draft))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Test against your endpoint" in html
    assert "No tests yet." in html
    assert "Submitting needs a full test that passes on the current configuration." in html
    assert f'value="{cast.acme_project.public_id}"' in html
    for kind in ("create_list", "add_users", "remove_users"):
        assert f'value="{kind}"' in html
    assert "static/js/testing.js" in html and "static/css/testing.css" in html


def test_the_panel_alone_can_be_loaded_into_another_page(cast, client_for, draft):
    response = client_for(cast.alice).get(page_url(draft, "panel"), **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith("<section") or "<section" in html[:400]
    assert "<html" not in html and f'id="tst-panel-{draft.pk}"' in html


def test_people_without_the_portal_are_refused(cast, client_for, draft):
    assert client_for(cast.alan).get(page_url(draft)).status_code == 403
    assert client_for(cast.bob).get(page_url(draft)).status_code == 403


def test_running_from_the_form_saves_the_settings_and_queues_a_run(cast, client_for, draft):
    response = client_for(cast.alice).post(page_url(draft, "run"), form(cast), **HTMX)
    assert response.status_code == 200
    run = TestRun.objects.get()
    assert (run.kind, run.status) == ("full", "queued")
    html = response.content.decode()
    assert f'id="tst-run-{run.pk}"' in html
    assert f"runs/{run.pk}/?after=0" in html  # the run polls for its progress
    assert "Waiting for a worker" in html
    settings = TestSettings.objects.get()
    assert settings.values == {"bearer_token": TOKEN, "region": "us"}
    assert TOKEN not in html  # never echoed back, not even in the password field


def test_an_error_is_shown_at_its_field_and_the_typed_values_stay(cast, client_for, draft):
    response = client_for(cast.alice).post(
        page_url(draft, "run"), form(cast, api_key="wrong", **{"users_count": "77"}), **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "is not the API key of Acme Web" in html
    assert 'aria-invalid="true" aria-describedby="tst-' in html
    assert 'value="77"' in html  # what the partner typed is still there
    assert TOKEN not in html and "wrong" not in html
    assert not TestRun.objects.exists() and not TestSettings.objects.exists()


def test_csv_errors_list_every_line(cast, client_for, draft):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile(
        "users.csv", b"operation,user_id_field\nadd,a\nfly,b\n", content_type="text/csv"
    )
    response = client_for(cast.alice).post(
        page_url(draft, "run"), {**form(cast, users_source="csv"), "csv": upload}, **HTMX
    )
    html = response.content.decode()
    assert "Line 3: operation is &#39;fly&#39;; use add or remove" in html
    assert not TestRun.objects.exists()


def test_saving_settings_without_javascript_redirects_back(cast, client_for, draft):
    response = client_for(cast.alice).post(page_url(draft, "settings"), form(cast))
    assert response.status_code == 302 and response["Location"] == page_url(draft)
    assert TestSettings.objects.get().users_count == 12
    assert not TestRun.objects.exists()


def test_a_configuration_with_errors_disables_the_run_buttons(cast, client_for):
    half = integration_actions.integration_create(
        acting_user=cast.alice, org=cast.acme, display_name="Half", integration_type="property"
    )
    html = client_for(cast.alice).get(page_url(half)).content.decode()
    assert "in the configuration before testing." in html
    assert 'value="full" disabled' in html


def test_polling_a_finished_run_sends_its_exchanges_and_refreshes_history(
    cast, client_for, partner
):
    alice = client_for(cast.alice)
    draft = make_draft(cast, list_manifest(partner.url))
    save_settings(cast, draft)
    run = actions.test_run_start(acting_user=cast.alice, integration=draft)
    queued = alice.get(page_url(draft, f"runs/{run.pk}/?after=0"), **HTMX).content.decode()
    testruns.execute_test_run(run.pk)

    assert f'hx-get="/portal/integrations/{draft.pk}/test/runs/{run.pk}/?after=0"' in queued
    html = alice.get(page_url(draft, f"runs/{run.pk}/?after=1"), **HTMX).content.decode()
    assert 'data-finished="passed"' in html and "hx-trigger" not in html.split("\n", 3)[1]
    assert f'hx-swap-oob="beforeend:#tst-run-{run.pk}-exchanges"' in html
    assert 'data-sequence="1"' not in html and 'data-sequence="3"' in html  # only new ones
    assert f'id="tst-history-{draft.pk}" aria-labelledby' in html and "Ready to submit" in html


def test_the_inspector_shows_the_exchange_masked_and_readable(cast, client_for, partner):
    draft = make_draft(cast, list_manifest(partner.url))
    save_settings(cast, draft)
    run = testruns.execute_test_run(
        actions.test_run_start(acting_user=cast.alice, integration=draft).pk
    )
    html = client_for(cast.alice).get(page_url(draft, f"runs/{run.pk}/exchanges/1")).content
    text = html.decode()
    assert "Bearer ••••••" in text and TOKEN not in text
    assert "201 Created" in text
    assert "{\n  &#34;data&#34;: {" in text or "{\n  &quot;data&quot;: {" in text
    assert (
        client_for(cast.alice).get(page_url(draft, f"runs/{run.pk}/exchanges/99")).status_code
        == 404
    )


def test_a_run_is_only_reachable_under_its_own_integration(cast, client_for, draft):
    save_settings(cast, draft)
    run = actions.test_run_start(acting_user=cast.alice, integration=draft)
    other = make_draft(cast, list_manifest(BASE, name="Other Lists"))
    alice = client_for(cast.alice)
    assert alice.get(page_url(draft, f"runs/{run.pk}/")).status_code == 200
    assert alice.get(page_url(other, f"runs/{run.pk}/")).status_code == 404


def test_the_csv_template_has_the_integrations_columns(cast, client_for, draft):
    response = client_for(cast.alice).get(page_url(draft, "users-template.csv"))
    assert response["Content-Type"] == "text/csv"
    assert response.content.decode().splitlines()[0] == "operation,user_id_field"


def test_the_signing_secret_is_shown_once(cast, client_for):
    manifest = list_manifest(BASE)
    manifest["delivery"] = {"sign_requests": True}
    draft = make_draft(cast, manifest)
    alice = client_for(cast.alice)
    assert "Generate secret" in alice.get(page_url(draft)).content.decode()
    shown = alice.post(page_url(draft, "signing-secret"), **HTMX).content.decode()
    assert "shown once" in shown
    secret = draft.signing_secret.secret
    assert secret in shown
    again = alice.get(page_url(draft)).content.decode()
    assert secret not in again and "Rotate secret" in again


def test_the_history_shows_ten_runs_at_a_time_with_older_ones_a_click_away(cast, client_for, draft):
    save_settings(cast, draft)
    for _ in range(12):
        run = actions.test_run_start(acting_user=cast.alice, integration=draft)
        TestRun.objects.filter(pk=run.pk).update(status="failed", summary=f"Run {run.pk}.")
    ids = list(TestRun.objects.filter(integration=draft).values_list("pk", flat=True))
    client = client_for(cast.alice)

    # The page shows the latest run and loads the history's first page right after.
    page = client.get(page_url(draft)).content.decode()
    assert 'class="tst-history-row"' not in page and "Runs 1–10 of 12" not in page
    assert f'id="tst-history-{draft.pk}"' in page
    assert f'hx-get="{page_url(draft, "runs/")}" hx-trigger="load" hx-swap="outerHTML"' in page
    # The latest run, shown above the history, arrives the same way.
    latest = page_url(draft, f"runs/{max(ids)}/")
    assert f'hx-get="{latest}" hx-trigger="load" hx-swap="outerHTML"' in page
    shown = client.get(latest, **HTMX).content.decode()
    assert f'id="tst-run-{max(ids)}"' in shown and f"Run {max(ids)}." in shown

    html = client.get(page_url(draft, "runs/"), **HTMX).content.decode()
    assert html.count('class="tst-history-row"') == 10
    assert "Runs 1–10 of 12" in html
    assert f"{page_url(draft, 'runs/')}?history_page=2" in html

    # Without script, a page of the history is a page of its own.
    second = client.get(page_url(draft), {"history_page": "2"}).content.decode()
    assert second.count('class="tst-history-row"') == 2 and "Runs 11–12 of 12" in second

    older = client.get(page_url(draft, "runs/"), {"history_page": "2"}, **HTMX).content.decode()
    assert older.count('class="tst-history-row"') == 2
    assert "Runs 11–12 of 12" in older
    assert f'data-run="{min(ids)}"' in older and f'data-run="{max(ids)}"' not in older
    assert "?history_page=1" in older and "Older</button>" not in older


def test_polling_a_run_with_a_unicode_digit_sends_the_whole_run(cast, client_for, draft):
    # "²" passes str.isdigit() but not int(): the poll ignores it as it ignores junk.
    alice = client_for(cast.alice)
    save_settings(cast, draft)
    run = actions.test_run_start(acting_user=cast.alice, integration=draft)
    run_url = page_url(draft, f"runs/{run.pk}/")
    response = alice.get(run_url, {"after": "²"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response.content == alice.get(run_url, HTTP_HX_REQUEST="true").content


# --- the sandbox, and a new project without leaving the page ------------------------------


def test_sign_up_gives_a_sandbox_that_the_test_page_chooses_with_its_key(cast, client_for):
    from portal.models import Project

    sandbox = Project.objects.get(org=cast.acme, is_sandbox=True)
    assert sandbox.name == "Sandbox"
    draft = make_draft(cast, list_manifest(BASE))
    html = client_for(cast.alice).get(page_url(draft)).content.decode()
    hint = "Filled in for you: the sandbox's key"
    assert f'value="{sandbox.public_id}" data-key-hint="{hint}" selected' in html
    assert f'placeholder="{hint}"' in html
    assert sandbox.api_key not in html

    # Run with the key left blank: the platform fills it in; it is checked and kept encrypted.
    response = client_for(cast.alice).post(
        page_url(draft, "run"),
        form(cast, project_id=str(sandbox.public_id), api_key=""),
        **HTMX,
    )
    assert response.status_code == 200
    assert TestRun.objects.filter(integration=draft).count() == 1
    settings = TestSettings.objects.get(integration=draft)
    assert (settings.project, settings.project_api_key) == (sandbox, sandbox.api_key)
    assert sandbox.api_key not in response.content.decode()


def test_another_project_still_needs_its_own_key(cast, client_for, draft):
    response = client_for(cast.alice).post(page_url(draft, "run"), form(cast, api_key=""), **HTMX)
    assert "Enter the API key of Acme Web" in response.content.decode()
    assert not TestRun.objects.exists()


def test_an_admin_creates_a_project_from_the_test_page(cast, client_for, draft):
    from portal.models import AuditEvent, Project

    response = client_for(cast.alice).post(
        page_url(draft, "project"),
        form(cast, project_name="Staging", api_key="", **{"users_count": "33"}),
        **HTMX,
    )
    html = response.content.decode()
    assert response.status_code == 200
    staging = Project.objects.get(org=cast.acme, name="Staging")
    assert "Project <strong>Staging</strong>" in html
    assert f'value="{staging.public_id}" data-key-hint="Saved ' in html
    assert 'value="33"' in html  # what was typed stays
    assert staging.api_key not in html
    settings = TestSettings.objects.get(integration=draft)
    assert (settings.project, settings.project_api_key) == (staging, staging.api_key)
    assert AuditEvent.objects.filter(action="project.created", target_id=str(staging.pk)).exists()
    assert not TestRun.objects.exists()


def test_a_project_needs_a_name_and_an_admin(cast, client_for, draft):
    from portal.models import Membership, Project

    before = Project.objects.count()
    response = client_for(cast.alice).post(
        page_url(draft, "project"), form(cast, project_name="  "), **HTMX
    )
    assert "Project name is required." in response.content.decode()
    assert 'id="tst-' in response.content.decode()
    Membership.objects.filter(user=cast.alan).update(is_developer=True)
    refused = client_for(cast.alan).post(
        page_url(draft, "project"), form(cast, project_name="Mine"), **HTMX
    )
    assert "Only an admin of your organisation creates projects." in refused.content.decode()
    assert Project.objects.count() == before
    assert "New project" not in client_for(cast.alan).get(page_url(draft)).content.decode()


def test_the_page_offers_the_orgs_projects_with_their_cohorts_and_no_others(
    cast, client_for, draft
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from portal import actions as portal_actions

    for name in ("Buyers", "Avid readers"):
        portal_actions.cohort_create(acting_user=cast.alice, project=cast.acme_project, name=name)
    portal_actions.cohort_create(acting_user=cast.bob, project=cast.globex_project, name="Globex")
    empty = portal_actions.project_create(acting_user=cast.alice, org=cast.acme, name="Beta")
    client = client_for(cast.alice)
    html = client.get(page_url(draft)).content.decode()
    web = cast.acme_project.public_id
    assert html.index(f">Acme Web ({web})<") < html.index(f">Beta ({empty.public_id})<")
    group = html.split(f'<optgroup label="Acme Web ({web})"', 1)[1].split("</optgroup>", 1)[0]
    assert group.index(">Avid readers · 0 users<") < group.index(">Buyers · 0 users<")
    assert "Globex" not in html and f'({empty.public_id})"' not in html  # no empty group
    assert cast.acme_project.api_key not in html

    # Saved settings are read with the draft: the page asks for each thing once.
    save_settings(cast, draft)
    with CaptureQueriesContext(connection) as queries:
        html = client.get(page_url(draft)).content.decode()
    assert f'value="{web}" data-key-hint="Saved ' in html
    tables = [query["sql"].split(" FROM ", 1)[1].split()[0] for query in queries]
    assert '"syncengine_testsettings"' not in tables and '"portal_cohort"' not in tables
    assert len(queries) <= 6


def test_a_draft_calling_the_demo_partner_shows_its_api(cast, client_for, draft, settings):
    url = page_url(draft)
    assert "its API</summary>" not in client_for(cast.alice).get(url).content.decode()
    settings.DEMO_PARTNER_URL = BASE
    html = client_for(cast.alice).get(url).content.decode()
    assert "This draft calls the demo partner: its API" in html
    assert "POST /v1/lists" in html and "DELETE /v1/lists/{list_id}/members" in html
    assert "The new list&#39;s id comes back at data.id" in html
    assert "/v1/users/properties" not in html  # the property API is for property drafts


def test_among_all_the_runs_the_passing_test_is_the_one_the_query_finds(cast, client_for, draft):
    from datetime import timedelta

    from django.utils import timezone

    from integrations.manifests import config_fingerprint
    from syncengine import selectors
    from syncengine.views import latest_passing

    save_settings(cast, draft)
    fingerprint = config_fingerprint(draft)
    now = timezone.now()
    ends = [now, now + timedelta(minutes=5), now + timedelta(minutes=5), None, now]
    kinds = ["full", "full", "full", "full", "add_users"]
    for end, kind in zip(ends, kinds, strict=True):
        run = actions.test_run_start(acting_user=cast.alice, integration=draft)
        TestRun.objects.filter(pk=run.pk).update(status="passed", kind=kind, finished_at=end)
    runs = list(selectors.test_runs_for(draft))
    for stop in range(len(runs) + 1):
        TestRun.objects.filter(pk__in=[run.pk for run in runs[:stop]]).update(fingerprint="other")
        now_runs = list(selectors.test_runs_for(draft))
        found = selectors.passing_full_test(draft, fingerprint=fingerprint)
        assert latest_passing(now_runs, fingerprint) == found

    TestRun.objects.filter(integration=draft).update(fingerprint=fingerprint)
    expected = selectors.passing_full_test(draft, fingerprint=fingerprint)
    assert expected is not None and expected.finished_at is None  # a missing end sorts first
    page = client_for(cast.alice).get(page_url(draft)).content.decode()
    assert f"Full test #{expected.pk} passed" in page
