"""Part 2 of a draft: the configuration editor and its live calls.

The page renders the form and the Testing Integration panel for the stored draft. Its live
calls (preview, save, auth switch, copy errors) post the whole form state as JSON and get
JSON or an HTML fragment back; everything they show is rendered here, on the server, from
the `integrations.editor` modules.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.contrib import messages
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST

from integrations import access, actions
from integrations.editor.auth_switch import auth_settings, switch_auth
from integrations.editor.form_rows import editor_form
from integrations.editor.form_state import FormStateError, manifest_from_form, read_form_state
from integrations.editor.panel import SECTIONS, client_data, section_keys, testing_panel
from integrations.editor.parts import new_part
from integrations.models import Integration, IntegrationRevision
from portal.access import DeveloperRequest, developer_required
from portal.compression import quick_gzip_page
from portal.errors import ActionError
from portal.fragments import Deferred, fragment_key
from portal.jinja import when
from portal.params import optional_id
from syncengine.core.json_depth import TOO_DEEP_MESSAGE, JsonTooDeep, decode_json
from syncengine.core.manifest.normalize import (
    copy_error_classifications,
    normalize_manifest,
    starter_manifest,
)
from syncengine.core.manifest.schema import ENDPOINT_ORDER
from syncengine.core.manifest_diff import manifest_diff


def _wants_json(request: DeveloperRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _error_json(error: ActionError) -> JsonResponse:
    body = {"error": {"message": error.message, "code": error.code, "field": error.field}}
    return JsonResponse(body, status=error.status)


def _editor_manifest(
    request: DeveloperRequest, integration: Integration, *, auth_method: str | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """The manifest the posted editor form describes, and the form state itself.

    Raises ActionError when the post is not a form state at all."""
    try:
        state = read_form_state(request.POST)
    except FormStateError as error:
        raise ActionError(f"{error} Reload the page.", field="state") from None
    except RecursionError:
        # A state nested past what the JSON decoder follows; a real one is one level deep.
        raise ActionError(f"state: {TOO_DEEP_MESSAGE}.", field="state") from None
    return manifest_from_form(
        state,
        display_name=integration.display_name,
        integration_type=integration.integration_type,
        auth_method=auth_method,
        kept=integration.config,
    ), state


@require_GET
@developer_required
def integration_open(request: DeveloperRequest, integration_id: int) -> HttpResponse:
    integration = access.get_integration(request.org, integration_id)
    return redirect("integration_editor", integration.pk)


def untouched_problem_targets(
    integration: Integration, manifest: dict[str, Any], panel: dict[str, Any]
) -> list[str]:
    """The fields with a problem that are still as the new draft's skeleton left them: the
    editor shows their problems only once they are touched (the summary lists them all)."""
    skeleton = starter_manifest(integration.integration_type, integration.display_name)
    changed = [change.path for change in manifest_diff(skeleton, manifest)]

    def touched(target: str) -> bool:
        return any(
            path == target or path.startswith(target + ".") or target.startswith(path + ".")
            for path in changed
        )

    targets = {str(problem["target"]) for problem in panel["problems"] if problem.get("target")}
    return sorted(target for target in targets if not touched(target))


# Compressed (about 300 KB of HTML for 20 fields, some 30 KB on the wire). The page shows
# no secret value (secret fields' values live in the test settings, never here), and its
# CSRF token is masked anew on every response, so compressing it gives a BREACH attacker
# nothing to recover; the gzip header is padded at random besides.
@require_GET
@quick_gzip_page
@developer_required
def integration_editor(request: DeveloperRequest, integration_id: int) -> HttpResponse:
    integration = access.get_integration(request.org, integration_id)
    parts = _EditorParts(integration)
    return render(
        request,
        "integrations/editor.html",
        {
            "integration": integration,
            # The form, the panel and the summary are rendered once per configuration and
            # kept (portal.fragments): nothing in them depends on the request. What their
            # templates read is computed only when they are rendered.
            "fragment_key": fragment_key(
                "editor",
                integration.pk,
                integration.display_name,
                integration.integration_type,
                integration.logo_id,
                integration.config,
            ),
            "form": Deferred(lambda: parts.form),
            "panel": Deferred(lambda: parts.panel),
            "section_keys": Deferred(lambda: parts.section_keys),
            "client_data": Deferred(lambda: client_data(parts.panel)),
            "quiet_targets": Deferred(
                lambda: untouched_problem_targets(integration, parts.manifest, parts.panel)
            ),
            "autosaved": _latest_is_autosave(integration),
        },
    )


class _EditorParts:
    """The editor page's form and panel for a draft, each computed on first use."""

    def __init__(self, integration: Integration):
        self.integration = integration

    @cached_property
    def manifest(self) -> dict[str, Any]:
        return normalize_manifest(self.integration.config)

    @cached_property
    def form(self) -> dict[str, Any]:
        return editor_form(self.manifest)

    @cached_property
    def panel(self) -> dict[str, Any]:
        return testing_panel(self.manifest, normalized=True)

    @cached_property
    def section_keys(self) -> dict[str, str]:
        integration = self.integration
        return section_keys(
            self.panel, name=integration.display_name, logo_url=integration.tile_logo_url
        )


# Compressed: the answer is made after every pause in typing and is mostly HTML. It is
# BREACH-safe to compress: it carries no secret (secret values are masked in every
# preview, and the fragments are rendered without a request, so no CSRF token), and
# the gzip header is padded at random besides.
@require_POST
@quick_gzip_page
@developer_required
def editor_preview(request: DeveloperRequest, integration_id: int) -> HttpResponse:
    """The Testing Integration panel and the problem summary for the unsaved form.

    The editor sends the keys of what it shows (`shown`: the panel's sections by id, and
    `suggestions`); the answer then carries only the sections whose key changed
    (`sections`, the elements to put in place of those with the same id) and leaves out
    completions the editor has. Without `shown`, the whole panel (`panel`)."""
    integration = access.get_integration(request.org, integration_id)
    try:
        manifest, _ = _editor_manifest(request, integration)
        shown = _shown_keys(request.POST.get("shown"))
    except ActionError as error:
        return _error_json(error)
    # manifest_from_form gives it normalised.
    panel = testing_panel(manifest, normalized=True)
    keys = section_keys(panel, name=integration.display_name, logo_url=integration.tile_logo_url)
    # The fragments need no request context (no forms, no nav); skipping the context
    # processors keeps this call, made on every pause in typing, to one query of its own.
    context = {"integration": integration, "panel": panel, "section_keys": keys}
    data = client_data(panel)
    summary = render_to_string("integrations/_summary.html", context)
    if shown is None:
        panel_html = render_to_string("integrations/_testing.html", context)
        return JsonResponse({"panel": panel_html, "summary": summary, "data": data})
    changed = [section for section in SECTIONS if shown.get(section) != keys[section]]
    sections = render_to_string("integrations/_testing.html", context | {"changed": changed})
    if shown.get("suggestions") == data["suggestions_key"]:
        del data["suggestions"]
    return JsonResponse({"sections": sections, "summary": summary, "data": data})


def _shown_keys(posted: str | None) -> dict[str, str] | None:
    """The keys the editor says it shows (a JSON object of text), or None if it sent none."""
    if posted is None:
        return None
    try:
        shown = decode_json(posted)
    except (ValueError, JsonTooDeep):
        shown = None
    if not isinstance(shown, dict) or not all(isinstance(v, str) for v in shown.values()):
        raise ActionError(
            "shown: the keys of what the editor shows, as a JSON object.", field="shown"
        )
    return shown


@require_POST
@developer_required
def editor_save(request: DeveloperRequest, integration_id: int) -> HttpResponse:
    """Autosave (`autosave=1`), or *Save a revision* with the name the partner gave it
    (`note`). Nothing changed: nothing is recorded, and the answer says so."""
    integration = access.get_integration(request.org, integration_id)
    autosave = request.POST.get("autosave") == "1"
    name = " ".join(request.POST.get("note", "").split())[:200]
    named: IntegrationRevision | None = None
    try:
        base = optional_id(request.POST.get("base_revision"), field="base_revision")
        manifest, _ = _editor_manifest(request, integration)
        if autosave:
            integration = actions.integration_save(
                acting_user=request.user,
                integration=integration,
                manifest=manifest,
                base_revision=base,
                autosave=True,
            )
        else:
            integration, named = actions.integration_save_named(
                acting_user=request.user,
                integration=integration,
                manifest=manifest,
                base_revision=base,
                name=name,
            )
    except ActionError as error:
        if _wants_json(request):
            return _error_json(error)
        messages.error(request, f"Not saved. {error.message}")
        return redirect("integration_editor", integration.pk)
    if autosave:
        message = f"Saved · revision {integration.revision}"
    elif named is None:
        message = f"No changes to save: revision {integration.revision} is up to date."
    else:
        message = f"Saved revision {named.number}" + (f" “{named.note}”" if name else "")
    if not _wants_json(request):
        messages.success(request, message)
        return redirect("integration_editor", integration.pk)
    return JsonResponse(
        {
            "revision": integration.revision,
            "saved": autosave or named is not None,
            "autosaved": _latest_is_autosave(integration),
            "saved_at": when(integration.updated_at),
            "message": message,
        }
    )


def _latest_is_autosave(integration: Integration) -> bool:
    """Whether the draft's current revision is an unnamed autosave (which *Save a
    revision* can still name although nothing changed since)."""
    note = integration.revisions.filter(number=integration.revision).values_list("note", flat=True)
    return note.first() == actions.AUTOSAVE_NOTE


@require_POST
@developer_required
def editor_auth_switch(request: DeveloperRequest, integration_id: int) -> HttpResponse:
    """Re-render the auth and custom fields sections for a newly chosen auth method."""
    integration = access.get_integration(request.org, integration_id)
    previous = request.POST.get("previous_method", "")
    try:
        manifest, state = _editor_manifest(request, integration, auth_method=previous or None)
        # The settings of the method being left go back to the page, which hands them in
        # again (`remembered`) if the partner comes back to that method.
        left = auth_settings(manifest)
        remembered = decode_json(request.POST.get("remembered") or "null")
        manifest = switch_auth(manifest, state.get("auth.method", ""), remembered)
    except ActionError as error:
        return _error_json(error)
    except JsonTooDeep:
        return _error_json(ActionError(f"remembered: {TOO_DEEP_MESSAGE}.", field="remembered"))
    except ValueError:
        # An unknown method, or `remembered` that is not JSON.
        return _error_json(ActionError("Choose one of the four auth methods.", field="auth"))
    return render(
        request,
        "integrations/_auth_fields.html",
        {"integration": integration, "form": editor_form(manifest), "left_auth": left},
    )


@require_POST
@developer_required
def editor_copy_errors(request: DeveloperRequest, integration_id: int) -> HttpResponse:
    """The target endpoint's error classifications with the source's copied in."""
    integration = access.get_integration(request.org, integration_id)
    source, target = request.POST.get("source", ""), request.POST.get("target", "")
    try:
        manifest, _ = _editor_manifest(request, integration)
        if source == target or source not in ENDPOINT_ORDER:
            raise ActionError("Choose another endpoint to copy from.", field="source")
        manifest = copy_error_classifications(manifest, source=source, target=target)
    except ActionError as error:
        return _error_json(error)
    except KeyError as error:
        return _error_json(
            ActionError(f"This integration has no endpoint {error.args[0]!r}.", field="target")
        )
    form = editor_form(manifest)
    endpoint = next(row for row in form["endpoints"] if row["name"] == target)
    return render(
        request,
        "integrations/_errors_block.html",
        {"integration": integration, "form": form, "endpoint": endpoint},
    )


@require_POST
@developer_required
def editor_part(request: DeveloperRequest, integration_id: int) -> HttpResponse:
    """The inputs of a part the partner adds to a request (a lookup, its create request,
    a find request, the request's own credentials), started from the unsaved form."""
    integration = access.get_integration(request.org, integration_id)
    path = request.POST.get("path", "")
    try:
        manifest, _ = _editor_manifest(request, integration)
        kind, row = new_part(manifest, path)
    except ActionError as error:
        return _error_json(error)
    except ValueError:
        return _error_json(
            ActionError(
                "Only a lookup, a create or find request, or credentials can be added.",
                field="path",
            )
        )
    return render(
        request,
        "integrations/_part.html",
        {"integration": integration, "form": editor_form(manifest), "kind": kind, "row": row},
    )
