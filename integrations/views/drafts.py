"""A draft as a whole, from its card on the home page or the editor's menu: a new draft
from a manifest file, the manifest exported or replaced by a file, a copy, deletion.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_POST

from integrations import access, actions
from integrations.manifests import manifest_of
from integrations.views.uploads import upload_bytes
from portal.access import DeveloperRequest, developer_required
from portal.errors import ActionError
from portal.middleware_input import accepts_upload
from portal.params import optional_id
from syncengine.core.manifest.normalize import ManifestError, canonical_json, load_manifest

MAX_MANIFEST_UPLOAD = 4 * 1024 * 1024


class ManifestUploadForm(forms.Form):
    file = forms.FileField()


def manifest_problem(error: ManifestError) -> str:
    first = error.diagnostics[0]
    where = f" (line {first.line}, column {first.column})" if first.line else ""
    return f"{first.message}{where}."


@accepts_upload(MAX_MANIFEST_UPLOAD)
@require_POST
@developer_required
def integration_import(request: DeveloperRequest) -> HttpResponse:
    """Create a new draft from an uploaded manifest file."""
    form = ManifestUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose a manifest file (.json) to import.")
        return redirect("portal_home")
    try:
        manifest = load_manifest(upload_bytes(form.cleaned_data["file"], MAX_MANIFEST_UPLOAD))
        integration = actions.integration_import(
            acting_user=request.user, org=request.org, manifest=manifest
        )
    except ManifestError as error:
        messages.error(request, f"The file is not a valid manifest: {manifest_problem(error)}")
        return redirect("portal_home")
    except ActionError as error:
        messages.error(request, f"Nothing was imported. {error.message}")
        return redirect("portal_home")
    messages.success(request, f"Imported “{integration.display_name}” as a new draft.")
    return redirect("integration_editor", integration.pk)


@require_GET
@developer_required
def manifest_download(request: DeveloperRequest, integration_id: int) -> HttpResponse:
    integration = access.get_integration(request.org, integration_id)
    response = HttpResponse(
        canonical_json(manifest_of(integration)), content_type="application/json"
    )
    filename = f"{slugify(integration.display_name) or 'integration'}.manifest.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@accepts_upload(MAX_MANIFEST_UPLOAD)
@require_POST
@developer_required
def manifest_upload(request: DeveloperRequest, integration_id: int) -> HttpResponse:
    """Replace this draft's configuration with an uploaded manifest (kept in the history)."""
    integration = access.get_integration(request.org, integration_id)
    form = ManifestUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose a manifest file (.json) to import.")
        return redirect("integration_editor", integration.pk)
    try:
        base = optional_id(request.POST.get("base_revision"), field="base_revision")
        manifest = load_manifest(upload_bytes(form.cleaned_data["file"], MAX_MANIFEST_UPLOAD))
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
        messages.error(request, f"Nothing was imported: {manifest_problem(error)}")
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
def integration_duplicate(request: DeveloperRequest, integration_id: int) -> HttpResponse:
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
def integration_delete(request: DeveloperRequest, integration_id: int) -> HttpResponse:
    integration = access.get_integration(request.org, integration_id)
    name = integration.display_name
    actions.integration_delete(acting_user=request.user, integration=integration)
    messages.success(request, f"“{name}” was deleted.")
    return redirect("portal_home")
