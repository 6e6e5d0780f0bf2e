"""The Testing panel: run form, live progress, request/response inspector, run history.

`templates/syncengine/_testing_panel.html` is self-contained: the standalone page
(`/portal/integrations/<id>/test/`) renders it, and the editor can embed it either with
`{% include %}` and `testing_panel_context(...)`, or by loading `testing_panel` with htmx.
Its forms post here with htmx and get the panel back; a run in progress polls its own
fragment, which appends new exchanges and refreshes the steps without touching what the
partner has expanded.

Views parse input, call one action (two in one transaction where the panel saves its
settings and starts a run) and render.
"""

from __future__ import annotations

import json
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime
from typing import Any

from django.conf import settings as django_settings
from django.contrib import messages
from django.core.paginator import Page
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from demo_partner import reference
from integrations import access as integration_access
from integrations.manifests import manifest_of
from integrations.models import Integration
from portal import access
from portal import actions as portal_actions
from portal.access import DeveloperRequest, developer_required
from portal.errors import ActionError
from portal.middleware_input import accepts_upload
from portal.models import Project
from portal.params import parse_id
from portal.views.pages import paginate
from syncengine import actions, selectors, testplan
from syncengine.api.views import read_csv_upload
from syncengine.core.manifest.normalize import normalize_manifest
from syncengine.core.manifest.schema import CREATE_LIST, REQUIRED_ENDPOINTS, SELECT_TYPES
from syncengine.core.signing import SIGNATURE_HEADER
from syncengine.models import (
    EXCHANGE_IN_FLIGHT,
    TestKind,
    TestRun,
    TestSettings,
    TestStatus,
    UsersSource,
)
from syncengine.panel_config import panel_configuration
from syncengine.presenters import step_progress, users_description
from syncengine.testusers import (
    MAX_CSV_BYTES,
    MAX_CSV_ROWS,
    MAX_TEST_USERS,
    csv_template,
)

HISTORY_SIZE = 10
EPOCH = datetime.fromtimestamp(0, tz=UTC)
MAX_SHOWN_EXCHANGES = 200
MAX_SHOWN_CONFIG_ERRORS = 5
POLL_INTERVAL = "1s"
# Indenting a body makes it longer; past this size it is shown as sent.
MAX_PRETTY_BODY_CHARS = 32 * 1024


# --- reading the form ---------------------------------------------------------------------


def _form_input(request: HttpRequest, manifest: dict[str, Any]) -> dict[str, Any]:
    """The test-settings arguments the panel's form describes."""
    post = request.POST
    values = {
        raw["variable"]: post.get(f"values.{raw['variable']}", "")
        for raw in manifest.get("custom_fields") or []
        if isinstance(raw, dict) and isinstance(raw.get("variable"), str)
    }
    mapping = {
        raw["variable"]: post.get(f"mapping.{raw['variable']}", "")
        for raw in manifest.get("mapping_fields") or []
        if isinstance(raw, dict) and isinstance(raw.get("variable"), str)
    }
    found: dict[str, Any] = {
        "project_id": post.get("project_id", "").strip() or None,
        "api_key": post.get("api_key", ""),
        "values": values,
        "mapping": mapping,
        "users_source": post.get("users_source") or None,
        "users_count": post.get("users_count", "").strip() or None,
        "cohort_id": post.get("cohort_id", "").strip() or None,
        "share_with_reviewers": post.get("share_with_reviewers") == "on",
        # Blank keeps the list id kept from the last create_list: the form on the page
        # may be older than the run that created it.
        "list_id": post.get("list_id", "").strip() or None,
    }
    upload = request.FILES.get("csv")
    if upload is not None:
        found["csv_data"] = read_csv_upload(upload)
        found["csv_name"] = upload.name
    return found


def _echo(request: HttpRequest, secret: AbstractSet[str]) -> dict[str, str]:
    """What the partner typed, to refill the form after an error; never keys or secrets."""
    return {
        key: str(value)
        for key, value in request.POST.items()
        if key not in {"api_key", "csrfmiddlewaretoken"}
        and not (key.startswith("values.") and key.removeprefix("values.") in secret)
    }


# --- the panel ----------------------------------------------------------------------------


def _fields(
    manifest: dict[str, Any], settings: TestSettings, secret: AbstractSet[str]
) -> list[dict[str, Any]]:
    shown = []
    for raw in manifest.get("custom_fields") or []:
        if not isinstance(raw, dict) or not isinstance(raw.get("variable"), str):
            continue
        variable = raw["variable"]
        stored = (settings.values or {}).get(variable, "")
        is_secret = variable in secret
        options = _options(raw)
        value = "" if is_secret else (stored or raw.get("default") or "")
        if not value and not is_secret and raw.get("type") in SELECT_TYPES and options:
            value = options[0][0]
        shown.append(
            {
                "variable": variable,
                "name": f"values.{variable}",
                "label": raw.get("display_name") or variable,
                "type": raw.get("type", "string"),
                "options": options,
                "secret": is_secret,
                "saved": bool(stored) and is_secret,
                "required": raw.get("required") is True,
                "help_text": raw.get("help_text") or "",
                "value": str(value),
            }
        )
    return shown


def _mapping_fields(manifest: dict[str, Any], settings: TestSettings) -> list[dict[str, Any]]:
    shown = []
    for raw in manifest.get("mapping_fields") or []:
        if not isinstance(raw, dict) or not isinstance(raw.get("variable"), str):
            continue
        options = _options(raw)
        value = (settings.mapping or {}).get(raw["variable"]) or (options[0][0] if options else "")
        shown.append(
            {
                "variable": raw["variable"],
                "name": f"mapping.{raw['variable']}",
                "label": raw.get("display_name") or raw["variable"],
                "type": raw.get("type", "string"),
                "options": options,
                "value": value,
            }
        )
    return shown


def _options(raw: dict[str, Any]) -> list[tuple[str, str]]:
    options = []
    for option in raw.get("options") or []:
        if isinstance(option, dict):
            value = str(option.get("value"))
            options.append((value, str(option.get("label") or value)))
        else:
            options.append((str(option), str(option)))
    return options


def _endpoint_tests(integration_type: str) -> list[dict[str, Any]]:
    return [
        {"kind": name, "needs_list": name not in (CREATE_LIST, TestKind.UPDATE_USERS)}
        for name in REQUIRED_ENDPOINTS.get(integration_type, ())
    ]


def run_context(run: TestRun, fingerprint: str) -> dict[str, Any]:
    """What the run fragment shows: steps with progress, exchanges, stale or not."""
    exchanges = list(run.exchanges.all()[:MAX_SHOWN_EXCHANGES])
    # Requests still waiting for their answer show once they have it: the page asks only
    # for exchanges after the last one it shows, so it shows none after one in flight.
    waiting = next(
        (n for n, exchange in enumerate(exchanges) if exchange.outcome == EXCHANGE_IN_FLIGHT),
        None,
    )
    if waiting is not None:
        exchanges = exchanges[:waiting]
    return {
        "run": run,
        "steps": step_progress(run),
        "exchanges": exchanges,
        "hidden_exchanges": max(0, run.exchange_count - MAX_SHOWN_EXCHANGES),
        "last_sequence": exchanges[-1].sequence if exchanges else 0,
        "stale": run.fingerprint != fingerprint,
        "users_text": users_description(run.users or {}),
        "poll_interval": POLL_INTERVAL,
    }


def testing_panel_context(
    request: DeveloperRequest,
    integration: Integration,
    *,
    error: ActionError | None = None,
    echo: dict[str, str] | None = None,
    focus: TestRun | None = None,
    revealed_secret: str | None = None,
    created_project: Project | None = None,
    history_later: bool = False,
    settings: TestSettings | None = None,
) -> dict[str, Any]:
    """Everything `syncengine/_testing_panel.html` needs, for any page that includes it.

    `history_later`: the panel shows the history as a placeholder that loads its first page
    with htmx (`testing_runs`), and the run it shows as one that loads it (`testing_run`):
    only the latest runs are read here (for the status); the test page does so unless it is
    asked for a page of the history. `settings`: the draft's test settings, when the caller
    read them with it (`selectors.integration_with_test_settings`)."""
    configuration = panel_configuration(integration)
    manifest, secret = configuration.manifest, configuration.secret
    fingerprint = configuration.fingerprint
    config_errors = configuration.config_errors
    if settings is None:
        settings = selectors.test_settings_for(integration)
    history_later = history_later and not request.GET.get("history_page")
    history: Page[TestRun] | None = None
    if history_later:
        # One more than shown: when it does not come, these are all the runs there are.
        runs = list(_status_runs(integration)[: HISTORY_SIZE + 1])
        every_run = len(runs) <= HISTORY_SIZE
        runs = runs[:HISTORY_SIZE]
        first_page = True
    else:
        history = paginate_history(request, integration)
        runs = list(history.object_list)
        first_page = history.number == 1
        every_run = False  # the passing test may be on another page: asked for below
    if focus is None:
        latest = runs if first_page else selectors.test_runs_for(integration)[:1]
        focus = next((run for run in runs if not run.is_finished), None) or next(iter(latest), None)
    # The request's org is the integration's (it was looked up through it).
    if focus is not None and focus.integration_id == integration.pk:
        focus.integration = integration  # the run fragment shows it without a query
    projects, cohorts = access.projects_and_cohorts_for(request.org)
    chosen_project = settings.project or default_test_project(projects)
    sign_requests = configuration.sign_requests
    # The panel shows the signing secret only for a configuration that signs its requests.
    signing = selectors.signing_secret_of(integration) if sign_requests else None
    return {
        "integration": integration,
        "settings": settings,
        "fields": _fields(manifest, settings, secret),
        "mapping_fields": _mapping_fields(manifest, settings),
        "csv_columns": ["operation", *configuration.csv_variables],
        "projects": projects,
        "chosen_project": chosen_project,
        "can_create_project": request.membership.is_admin,
        "cohorts": cohorts,
        "users_sources": UsersSource.choices,
        "endpoint_tests": _endpoint_tests(integration.integration_type),
        "config_errors": config_errors[:MAX_SHOWN_CONFIG_ERRORS],
        "config_error_count": len(config_errors),
        "runs": runs,
        "history": history,
        "history_later": history_later,
        "fingerprint": fingerprint,
        "passing": latest_passing(runs, fingerprint)
        if every_run
        else selectors.passing_full_test(integration, fingerprint=fingerprint),
        "focus": run_context(focus, fingerprint) if focus and not history_later else None,
        "focus_later": focus if history_later else None,
        "demo_partner": demo_partner_reference(manifest, integration.integration_type),
        "sign_requests": sign_requests,
        "signing_secret": signing,
        "revealed_secret": revealed_secret,
        "created_project": created_project,
        "signature_header": SIGNATURE_HEADER,
        "error": error,
        "error_field": error.field if error else None,
        "echo": echo or {},
        "max_users": MAX_TEST_USERS,
        "max_csv_rows": MAX_CSV_ROWS,
    }


def latest_passing(runs: list[TestRun], fingerprint: str) -> TestRun | None:
    """`selectors.passing_full_test` among `runs`, when they are all the draft's runs: the
    passed full test of this fingerprint that finished last (PostgreSQL sorts a missing
    end first when descending), the highest id of those at the same time."""
    passed = [
        run
        for run in runs
        if run.kind == TestKind.FULL
        and run.status == TestStatus.PASSED
        and run.version_id is None
        and run.fingerprint == fingerprint
    ]
    return max(
        passed,
        key=lambda run: (run.finished_at is None, run.finished_at or EPOCH, run.pk),
        default=None,
    )


def demo_partner_reference(
    manifest: dict[str, Any], integration_type: str
) -> dict[str, Any] | None:
    """The demo partner's API, for a draft whose endpoints call it."""
    base = django_settings.DEMO_PARTNER_URL
    endpoints = manifest.get("endpoints") or {}
    urls = [e.get("url") for e in endpoints.values() if isinstance(e, dict)]
    if not base or not any(isinstance(u, str) and u.startswith(base + "/") for u in urls):
        return None
    return {
        "url": base,
        "credentials": reference.CREDENTIALS,
        "operations": reference.operations(integration_type),
        "body_shapes": reference.BODY_SHAPES,
        "errors": reference.ERRORS,
    }


def default_test_project(projects: list[Project]) -> Project | None:
    """The project a first test runs for: the sandbox, or the organisation's only project."""
    sandbox = next((project for project in projects if project.is_sandbox), None)
    return sandbox or (projects[0] if len(projects) == 1 else None)


def _panel(request: DeveloperRequest, integration: Integration, **extra: Any) -> HttpResponse:
    context = testing_panel_context(request, integration, **extra)
    if request.htmx:
        return render(request, "syncengine/_testing_panel.html", context)
    if any(extra.get(key) for key in ("error", "revealed_secret", "created_project")):
        return render(request, "syncengine/test_page.html", context)
    return redirect("integration_test", integration.pk)


def _integration(request: DeveloperRequest, integration_id: int) -> Integration:
    integration = integration_access.get_integration(request.org, integration_id)
    # It was found through the request's org: the page names that org without a query.
    integration.org = request.org
    return integration


def _panel_page_context(
    request: DeveloperRequest, integration_id: int, **extra: Any
) -> dict[str, Any]:
    """The panel's context for a page that only shows it: the draft and its test settings
    read in one query."""
    integration, settings = selectors.integration_with_test_settings(request.org, integration_id)
    integration.org = request.org  # as `_integration`
    return testing_panel_context(request, integration, settings=settings, **extra)


# --- pages and fragments ------------------------------------------------------------------


@require_GET
@developer_required
def test_page(request: DeveloperRequest, integration_id: int) -> HttpResponse:
    context = _panel_page_context(request, integration_id, history_later=True)
    return render(request, "syncengine/test_page.html", context)


@require_GET
@developer_required
def testing_panel(request: DeveloperRequest, integration_id: int) -> HttpResponse:
    """The panel alone, for pages that load it with htmx (the editor's right column)."""
    context = _panel_page_context(request, integration_id)
    return render(request, "syncengine/_testing_panel.html", context)


def _save_and_maybe_run(
    request: DeveloperRequest, integration_id: int, *, start: bool
) -> HttpResponse:
    integration = _integration(request, integration_id)
    manifest = normalize_manifest(manifest_of(integration))
    try:
        arguments = _form_input(request, manifest)
        # Saving the form and starting the run succeed or fail together.
        with transaction.atomic():
            actions.test_settings_save(
                acting_user=request.user, integration=integration, **arguments
            )
            run = None
            if start:
                run = actions.test_run_start(
                    acting_user=request.user,
                    integration=integration,
                    kind=request.POST.get("kind") or TestKind.FULL,
                    list_id=request.POST.get("list_id") or None,
                    no_retries=request.POST.get("no_retries") == "on",
                )
    except ActionError as error:
        echo = _echo(request, testplan.secret_variables(manifest))
        return _panel(request, integration, error=error, echo=echo)
    if run is None and not request.htmx:
        messages.success(request, "Test settings saved.")
    return _panel(request, integration, focus=run)


@accepts_upload(MAX_CSV_BYTES)
@require_POST
@developer_required
def testing_project_create(request: DeveloperRequest, integration_id: int) -> HttpResponse:
    """A new project of the organisation, made from the Testing panel and chosen for the
    tests at once (its key comes with it); the rest of the form is shown as it was typed."""
    integration = _integration(request, integration_id)
    manifest = normalize_manifest(manifest_of(integration))
    echo = _echo(request, testplan.secret_variables(manifest))
    try:
        if not request.membership.is_admin:
            raise ActionError(
                "Only an admin of your organisation creates projects.", field="project_name"
            )
        with transaction.atomic():
            project = portal_actions.project_create(
                acting_user=request.user,
                org=request.org,
                name=request.POST.get("project_name", ""),
            )
            actions.test_settings_save(
                acting_user=request.user,
                integration=integration,
                project_id=project.public_id,
                api_key=project.api_key,
            )
    except ActionError as error:
        if error.field == "name":
            error.field = "project_name"
        return _panel(request, integration, error=error, echo=echo)
    echo["project_id"] = str(project.public_id)
    if not request.htmx:
        messages.success(request, f"Project {project.name} created and chosen for testing.")
    return _panel(request, integration, echo=echo, created_project=project)


@require_POST
@developer_required
def testing_settings_save(request: DeveloperRequest, integration_id: int) -> HttpResponse:
    return _save_and_maybe_run(request, integration_id, start=False)


@require_POST
@developer_required
def testing_run_start(request: DeveloperRequest, integration_id: int) -> HttpResponse:
    return _save_and_maybe_run(request, integration_id, start=True)


@require_GET
@developer_required
def testing_runs(request: DeveloperRequest, integration_id: int) -> HttpResponse:
    """The history of runs, a page at a time (`?history_page=N`)."""
    integration = _integration(request, integration_id)
    history = paginate_history(request, integration)
    context = {
        "integration": integration,
        "runs": list(history.object_list),
        "history": history,
        "fingerprint": panel_configuration(integration).fingerprint,
    }
    return render(request, "syncengine/_history.html", context)


def paginate_history(request: HttpRequest, integration: Integration) -> Page[TestRun]:
    """A page of the integration's runs, newest first, from `?history_page=`."""
    return paginate(
        request, _listed_runs(integration), per_page=HISTORY_SIZE, parameter="history_page"
    )


def _listed_runs(integration: Integration) -> QuerySet[TestRun]:
    # The list shows neither what each run tested nor its (encrypted) values.
    return selectors.test_runs_for(integration).defer("manifest", "values", "mapping")


# What the status line, `latest_passing` and the placeholder of the run shown read of the
# latest runs, when the run and the history load after the page.
STATUS_RUN_FIELDS = ("integration", "version_id", "kind", "status", "fingerprint", "finished_at")


def _status_runs(integration: Integration) -> QuerySet[TestRun]:
    return selectors.test_runs_for(integration).select_related(None).only(*STATUS_RUN_FIELDS)


@require_GET
@developer_required
def testing_run(request: DeveloperRequest, integration_id: int, run_id: int) -> HttpResponse:
    """A run: the whole block, or with `?after=N` (polling) only what changed since."""
    integration = _integration(request, integration_id)
    run = _run_of(request, integration, run_id)
    fingerprint = panel_configuration(integration).fingerprint
    context = run_context(run, fingerprint)
    after = parse_id(request.GET.get("after"))
    if after is not None:
        context["new_exchanges"] = [e for e in context["exchanges"] if e.sequence > after]
        context["integration"] = integration
        context["history"] = paginate_history(request, integration)
        context["runs"] = list(context["history"].object_list)
        context["fingerprint"] = fingerprint
        if run.is_finished:
            context["passing"] = selectors.passing_full_test(integration, fingerprint=fingerprint)
            context["settings"] = selectors.test_settings_for(integration)
        return render(request, "syncengine/_run_poll.html", context)
    return render(request, "syncengine/_run.html", context)


@require_GET
@developer_required
def testing_exchange(
    request: DeveloperRequest, integration_id: int, run_id: int, sequence: int
) -> HttpResponse:
    integration = _integration(request, integration_id)
    run = _run_of(request, integration, run_id)
    exchange = selectors.get_exchange(run, sequence)
    retry_after = next(
        (value for name, value in exchange.response_headers if name.lower() == "retry-after"),
        None,
    )
    context = {
        "run": run,
        "exchange": exchange,
        "request_body": readable_body(exchange.request_body, exchange.request_body_truncated),
        "response_body": readable_body(exchange.response_body, exchange.response_body_truncated),
        "retry_after": retry_after,
    }
    return render(request, "syncengine/_exchange.html", context)


def readable_body(text: str, truncated: bool) -> str:
    """A JSON body indented for reading; anything else (or a cut body) as it is."""
    if truncated or not text or len(text) > MAX_PRETTY_BODY_CHARS:
        return text
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def _run_of(request: DeveloperRequest, integration: Integration, run_id: int) -> TestRun:
    run = selectors.get_test_run(request.org, run_id)
    if run.integration_id != integration.pk:
        # The run exists in this org but under another integration: same answer as missing.
        raise Http404("No such test run.")
    return run


@require_GET
@developer_required
def testing_csv_template(request: DeveloperRequest, integration_id: int) -> HttpResponse:
    integration = _integration(request, integration_id)
    response = HttpResponse(csv_template(manifest_of(integration)), content_type="text/csv")
    response["Content-Disposition"] = (
        f'attachment; filename="test-users-integration-{integration.pk}.csv"'
    )
    return response


@require_POST
@developer_required
def testing_signing_secret(request: DeveloperRequest, integration_id: int) -> HttpResponse:
    integration = _integration(request, integration_id)
    clear = actions.signing_secret_rotate(acting_user=request.user, integration=integration)
    return _panel(request, integration, revealed_secret=clear)
