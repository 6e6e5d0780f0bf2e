"""Developer Portal pages: the home, Part 1 (tile), Part 2 (configuration editor), history.

Views parse input, call one action or helper, and render. The editor's live calls
(preview, save, auth switch, copy errors) post the form state as JSON and get JSON back;
everything they show is rendered here, on the server.
"""

from __future__ import annotations

import base64
import json

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_POST

from integrations import access, actions, editor
from integrations.listing import integration_listing
from integrations.logo import MAX_LOGO_BYTES, LogoError, process_logo
from integrations.manifests import manifest_of
from integrations.models import Integration, IntegrationType
from portal.access import developer_required
from portal.errors import ActionError
from portal.jinja import when
from portal.params import optional_id, parse_id
from portal.views.pages import paginate, query_without_page
from syncengine.core.manifest.normalize import (
    ManifestError,
    canonical_json,
    copy_error_classifications,
    load_manifest,
    normalize_manifest,
)
from syncengine.core.manifest.schema import ENDPOINT_ORDER, MAX_DISPLAY_NAME_LENGTH
from syncengine.core.manifest_diff import manifest_diff

HOME_PAGE_SIZE = 12
HISTORY_PAGE_SIZE = 20
MAX_MANIFEST_UPLOAD = 4 * 1024 * 1024


# --------------------------------------------------------------------------------------
# Input


class TileForm(forms.Form):
    display_name = forms.CharField(max_length=MAX_DISPLAY_NAME_LENGTH, strip=True)
    integration_type = forms.ChoiceField(choices=IntegrationType.choices, required=False)
    logo = forms.FileField(required=False)


class ManifestUploadForm(forms.Form):
    file = forms.FileField()


def _upload_bytes(upload, limit: int) -> bytes:
    return upload.read(limit + 1)


def _logo_data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _error_json(error: ActionError) -> JsonResponse:
    body = {"error": {"message": error.message, "code": error.code, "field": error.field}}
    return JsonResponse(body, status=error.status)


def _editor_manifest(
    request: HttpRequest, integration: Integration, **overrides
) -> tuple[dict, dict[str, str]]:
    """The manifest the posted editor form describes, and the form state itself.

    Raises ActionError when the post is not a form state at all."""
    try:
        state = editor.read_form_state(request.POST)
    except editor.FormStateError as error:
        raise ActionError(f"{error} Reload the page.", field="state") from None
    return editor.manifest_from_form(
        state,
        display_name=integration.display_name,
        integration_type=integration.integration_type,
        **overrides,
    ), state


# --------------------------------------------------------------------------------------
# Home


@developer_required
def portal_home(request: HttpRequest):
    listing = integration_listing(
        request.org, search=request.GET.get("q", ""), status=request.GET.get("status", "")
    )
    return render(
        request,
        "integrations/home.html",
        {
            "listing": listing,
            "page": paginate(request, listing.rows, per_page=HOME_PAGE_SIZE),
            "query": query_without_page(request),
        },
    )


@require_POST
@developer_required
def integration_import(request: HttpRequest):
    """Create a new draft from an uploaded manifest file."""
    form = ManifestUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose a manifest file (.json) to import.")
        return redirect("portal_home")
    try:
        manifest = load_manifest(_upload_bytes(form.cleaned_data["file"], MAX_MANIFEST_UPLOAD))
        integration = actions.integration_import(
            acting_user=request.user, org=request.org, manifest=manifest
        )
    except ManifestError as error:
        messages.error(request, f"The file is not a valid manifest: {_manifest_problem(error)}")
        return redirect("portal_home")
    except ActionError as error:
        messages.error(request, f"Nothing was imported. {error.message}")
        return redirect("portal_home")
    messages.success(request, f"Imported “{integration.display_name}” as a new draft.")
    return redirect("integration_editor", integration.pk)


def _manifest_problem(error: ManifestError) -> str:
    first = error.diagnostics[0]
    where = f" (line {first.line}, column {first.column})" if first.line else ""
    return f"{first.message}{where}."


# --------------------------------------------------------------------------------------
# Part 1 — the tile


@developer_required
def integration_new(request: HttpRequest):
    form = TileForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                integration = actions.integration_create(
                    acting_user=request.user,
                    org=request.org,
                    display_name=data["display_name"],
                    integration_type=data["integration_type"],
                )
                if data["logo"] is not None:
                    actions.integration_set_logo(
                        acting_user=request.user,
                        integration=integration,
                        data=_upload_bytes(data["logo"], MAX_LOGO_BYTES),
                    )
        except ActionError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(
                request,
                f"“{integration.display_name}” created. Next: how we authenticate, what end "
                "users fill in, and your endpoints.",
            )
            return redirect("integration_editor", integration.pk)
    return render(
        request,
        "integrations/tile.html",
        {"form": form, "integration": None},
        status=400 if form.errors else 200,
    )


@developer_required
def integration_tile(request: HttpRequest, integration_id: int):
    integration = access.get_integration(request.org, integration_id)
    form = TileForm(request.POST or None, initial={"display_name": integration.display_name})
    if request.method == "POST" and form.is_valid():
        name = form.cleaned_data["display_name"]
        try:
            base = optional_id(request.POST.get("base_revision"), field="base_revision")
            if name != integration.display_name:
                actions.integration_save(
                    acting_user=request.user,
                    integration=integration,
                    manifest={**integration.config, "display_name": name},
                    base_revision=base,
                    note="Renamed",
                )
        except ActionError as error:
            form.add_error(
                None if error.field == "base_revision" else "display_name", error.message
            )
        else:
            messages.success(request, "Tile saved.")
            if "continue" in request.POST:
                return redirect("integration_editor", integration.pk)
            return redirect("integration_tile", integration.pk)
    status = 400 if form.errors else 200
    return render(
        request,
        "integrations/tile.html",
        {"form": form, "integration": integration},
        status=status,
    )


@require_GET
@developer_required
def name_check(request: HttpRequest, integration_id: int | None = None):
    """As-you-type check of a display name (an htmx fragment)."""
    integration = access.get_integration(request.org, integration_id) if integration_id else None
    name = request.GET.get("display_name", "")
    problem = actions.display_name_problem(name, exclude=integration)
    return render(
        request, "integrations/_name_check.html", {"name": name.strip(), "problem": problem}
    )


@require_POST
@developer_required
def logo_check(request: HttpRequest):
    """Validate a logo for a draft not created yet; show the tile it will give."""
    upload = request.FILES.get("logo")
    if upload is None:
        return _logo_result(request, problem="Choose a PNG file.")
    try:
        processed = process_logo(_upload_bytes(upload, MAX_LOGO_BYTES))
    except LogoError as error:
        return _logo_result(request, problem=str(error))
    return _logo_result(
        request,
        tile_url=_logo_data_url(processed.tile_png),
        note=f"{processed.width}×{processed.height} px PNG. It is stored when you create the "
        "draft.",
    )


def _logo_result(
    request: HttpRequest,
    *,
    problem: str | None = None,
    tile_url: str | None = None,
    note: str = "",
    integration: Integration | None = None,
    saved: bool = False,
):
    context = {
        "problem": problem,
        "tile_url": tile_url,
        "note": note,
        "integration": integration,
        "saved": saved,
    }
    return render(request, "integrations/_logo_result.html", context)


@require_POST
@developer_required
def integration_logo(request: HttpRequest, integration_id: int):
    """Upload (or with `remove`, remove) the logo of a draft; answers with the new tile."""
    integration = access.get_integration(request.org, integration_id)
    upload = request.FILES.get("logo")
    try:
        if "remove" not in request.POST and upload is None:
            raise ActionError("Choose a PNG file.", field="logo")
        integration = actions.integration_set_logo(
            acting_user=request.user,
            integration=integration,
            data=None if "remove" in request.POST else _upload_bytes(upload, MAX_LOGO_BYTES),
        )
    except ActionError as error:
        if not request.htmx:
            messages.error(request, f"The logo was not changed. {error.message}")
            return redirect("integration_tile", integration.pk)
        # A fragment in place of the field: htmx swaps only successful responses.
        return _logo_result(request, problem=error.message, integration=integration)
    if not request.htmx:
        messages.success(request, "Logo saved." if integration.logo_id else "Logo removed.")
        return redirect("integration_tile", integration.pk)
    return _logo_result(
        request,
        integration=integration,
        tile_url=integration.tile_logo_url,
        note="Logo saved." if integration.logo_id else "Logo removed.",
        saved=True,
    )


# --------------------------------------------------------------------------------------
# Part 2 — the configuration editor


@require_GET
@developer_required
def integration_open(request: HttpRequest, integration_id: int):
    integration = access.get_integration(request.org, integration_id)
    return redirect("integration_editor", integration.pk)


@require_GET
@developer_required
def integration_editor(request: HttpRequest, integration_id: int):
    integration = access.get_integration(request.org, integration_id)
    manifest = normalize_manifest(integration.config)
    panel = editor.testing_panel(manifest)
    return render(
        request,
        "integrations/editor.html",
        {
            "integration": integration,
            "form": editor.editor_form(manifest),
            "panel": panel,
            "client_data": editor.client_data(panel),
        },
    )


@require_POST
@developer_required
def editor_preview(request: HttpRequest, integration_id: int):
    """The Testing Integration panel and the problem summary for the unsaved form."""
    integration = access.get_integration(request.org, integration_id)
    try:
        manifest, _ = _editor_manifest(request, integration)
    except ActionError as error:
        return _error_json(error)
    panel = editor.testing_panel(manifest)
    # The fragments need no request context (no forms, no nav); skipping the context
    # processors keeps this call, made on every pause in typing, to one query of its own.
    context = {"integration": integration, "panel": panel}
    return JsonResponse(
        {
            "panel": render_to_string("integrations/_testing.html", context),
            "summary": render_to_string("integrations/_summary.html", context),
            "data": editor.client_data(panel),
        }
    )


@require_POST
@developer_required
def editor_save(request: HttpRequest, integration_id: int):
    integration = access.get_integration(request.org, integration_id)
    autosave = request.POST.get("autosave") == "1"
    try:
        base = optional_id(request.POST.get("base_revision"), field="base_revision")
        manifest, _ = _editor_manifest(request, integration)
        integration = actions.integration_save(
            acting_user=request.user,
            integration=integration,
            manifest=manifest,
            base_revision=base,
            autosave=autosave,
            note=request.POST.get("note", "")[:200],
        )
    except ActionError as error:
        if _wants_json(request):
            return _error_json(error)
        messages.error(request, f"Not saved. {error.message}")
        return redirect("integration_editor", integration.pk)
    if not _wants_json(request):
        messages.success(request, f"Saved as revision {integration.revision}.")
        return redirect("integration_editor", integration.pk)
    return JsonResponse(
        {
            "revision": integration.revision,
            "saved_at": when(integration.updated_at),
            "message": f"Saved · revision {integration.revision}",
        }
    )


@require_POST
@developer_required
def editor_auth_switch(request: HttpRequest, integration_id: int):
    """Re-render the auth and custom fields sections for a newly chosen auth method."""
    integration = access.get_integration(request.org, integration_id)
    previous = request.POST.get("previous_method", "")
    try:
        manifest, state = _editor_manifest(request, integration, auth_method=previous or None)
        # The settings of the method being left go back to the page, which hands them in
        # again (`remembered`) if the partner comes back to that method.
        left = editor.auth_settings(manifest)
        remembered = json.loads(request.POST.get("remembered") or "null")
        manifest = editor.switch_auth(manifest, state.get("auth.method", ""), remembered)
    except ActionError as error:
        return _error_json(error)
    except ValueError:
        # An unknown method, or `remembered` that is not JSON.
        return _error_json(ActionError("Choose one of the four auth methods.", field="auth"))
    return render(
        request,
        "integrations/_auth_fields.html",
        {"integration": integration, "form": editor.editor_form(manifest), "left_auth": left},
    )


@require_POST
@developer_required
def editor_copy_errors(request: HttpRequest, integration_id: int):
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
    form = editor.editor_form(manifest)
    endpoint = next(row for row in form["endpoints"] if row["name"] == target)
    return render(
        request,
        "integrations/_errors_block.html",
        {"integration": integration, "form": form, "endpoint": endpoint},
    )


# --------------------------------------------------------------------------------------
# Manifest export and import, duplicate, delete


@require_GET
@developer_required
def manifest_download(request: HttpRequest, integration_id: int):
    integration = access.get_integration(request.org, integration_id)
    response = HttpResponse(
        canonical_json(manifest_of(integration)), content_type="application/json"
    )
    filename = f"{slugify(integration.display_name) or 'integration'}.manifest.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_POST
@developer_required
def manifest_upload(request: HttpRequest, integration_id: int):
    """Replace this draft's configuration with an uploaded manifest (kept in the history)."""
    integration = access.get_integration(request.org, integration_id)
    form = ManifestUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose a manifest file (.json) to import.")
        return redirect("integration_editor", integration.pk)
    try:
        base = optional_id(request.POST.get("base_revision"), field="base_revision")
        manifest = load_manifest(_upload_bytes(form.cleaned_data["file"], MAX_MANIFEST_UPLOAD))
        integration = actions.integration_save(
            acting_user=request.user,
            integration=integration,
            manifest=manifest,
            base_revision=base,
            # A file without a logo keeps the current one; a file with one replaces it.
            replace_logo=isinstance(manifest, dict) and bool(manifest.get("logo_png_base64")),
            note="Imported manifest",
        )
    except ManifestError as error:
        messages.error(request, f"Nothing was imported: {_manifest_problem(error)}")
    except ActionError as error:
        messages.error(request, f"Nothing was imported. {error.message}")
    else:
        messages.success(
            request,
            f"Manifest imported as revision {integration.revision}. The previous configuration "
            "is in the revision history.",
        )
    return redirect("integration_editor", integration.pk)


@require_POST
@developer_required
def integration_duplicate(request: HttpRequest, integration_id: int):
    integration = access.get_integration(request.org, integration_id)
    try:
        copy = actions.integration_duplicate(acting_user=request.user, integration=integration)
    except ActionError as error:
        messages.error(request, error.message)
        return redirect("portal_home")
    messages.success(request, f"Duplicated as “{copy.display_name}”.")
    return redirect("integration_editor", copy.pk)


@require_POST
@developer_required
def integration_delete(request: HttpRequest, integration_id: int):
    integration = access.get_integration(request.org, integration_id)
    name = integration.display_name
    actions.integration_delete(acting_user=request.user, integration=integration)
    messages.success(request, f"“{name}” was deleted.")
    return redirect("portal_home")


# --------------------------------------------------------------------------------------
# Revision history


def _revision_number(value: str | None) -> int | None:
    return parse_id(value)


@require_GET
@developer_required
def integration_history(request: HttpRequest, integration_id: int):
    integration = access.get_integration(request.org, integration_id)
    revisions = integration.revisions.select_related("created_by")
    numbers = set(revisions.values_list("number", flat=True))
    problem = None
    asked_from = request.GET.get("from")
    asked_to = request.GET.get("to")
    end_number = _revision_number(asked_to) or integration.revision
    start_number = _revision_number(asked_from) or max(
        (n for n in numbers if n < end_number), default=end_number
    )
    for asked, number in ((asked_from, start_number), (asked_to, end_number)):
        if (asked and _revision_number(asked) is None) or number not in numbers:
            problem = f"There is no revision “{(asked or str(number))[:20]}” of this draft."
    diff = None
    if problem is None:
        start = revisions.get(number=start_number)
        end = revisions.get(number=end_number)
        diff = editor.revision_diff(
            manifest_diff(normalize_manifest(start.config), normalize_manifest(end.config)),
            normalize_manifest(end.config),
            logo_changed=start.logo_id != end.logo_id,
        )
    return render(
        request,
        "integrations/history.html",
        {
            "integration": integration,
            "page": paginate(request, revisions, per_page=HISTORY_PAGE_SIZE),
            "query": query_without_page(request),
            "start_number": start_number,
            "end_number": end_number,
            "diff": diff,
            "problem": problem,
        },
        status=400 if problem else 200,
    )


@require_POST
@developer_required
def revision_restore(request: HttpRequest, integration_id: int, number: int):
    integration = access.get_integration(request.org, integration_id)
    revision = access.get_revision(integration, number)
    try:
        integration = actions.integration_restore(
            acting_user=request.user, integration=integration, revision=revision
        )
    except ActionError as error:
        messages.error(request, f"Revision {number} was not restored. {error.message}")
        return redirect("integration_history", integration.pk)
    messages.success(
        request,
        f"Revision {number} restored as revision {integration.revision}; nothing was lost, "
        "the previous draft is still in the history.",
    )
    return redirect("integration_editor", integration.pk)
