"""Part 1 of a draft, its tile: the display name and the logo, for a new draft or an
existing one, with the as-you-type checks of both.

The tile is what end users see in the Destinations catalogue; it is edited apart from the
configuration (Part 2), which leaves the name and the logo as they are.
"""

from __future__ import annotations

import base64

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from integrations import access, actions
from integrations.logo import MAX_LOGO_BYTES, LogoError, process_logo
from integrations.models import Integration, IntegrationType
from integrations.views.uploads import upload_bytes
from portal.access import DeveloperRequest, developer_required
from portal.errors import ActionError
from portal.middleware_input import accepts_upload
from portal.params import optional_id
from syncengine.core.manifest.schema import MAX_DISPLAY_NAME_LENGTH


class TileForm(forms.Form):
    display_name = forms.CharField(max_length=MAX_DISPLAY_NAME_LENGTH, strip=True)
    integration_type = forms.ChoiceField(choices=IntegrationType.choices, required=False)
    logo = forms.FileField(required=False)


def _logo_data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


@accepts_upload(MAX_LOGO_BYTES)
@developer_required
def integration_new(request: DeveloperRequest) -> HttpResponse:
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
                        data=upload_bytes(data["logo"], MAX_LOGO_BYTES),
                    )
        except ActionError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(
                request,
                f"“{integration.display_name}” created. Next: where its configuration starts.",
            )
            return redirect("integration_start", integration.pk)
    return render(
        request,
        "integrations/tile.html",
        {"form": form, "integration": None},
        status=400 if form.errors else 200,
    )


@accepts_upload(MAX_LOGO_BYTES)
@developer_required
def integration_tile(request: DeveloperRequest, integration_id: int) -> HttpResponse:
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
def name_check(request: DeveloperRequest, integration_id: int | None = None) -> HttpResponse:
    """As-you-type check of a display name (an htmx fragment)."""
    integration = access.get_integration(request.org, integration_id) if integration_id else None
    name = request.GET.get("display_name", "")
    problem = actions.display_name_problem(name, exclude=integration)
    return render(
        request, "integrations/_name_check.html", {"name": name.strip(), "problem": problem}
    )


@accepts_upload(MAX_LOGO_BYTES)
@require_POST
@developer_required
def logo_check(request: DeveloperRequest) -> HttpResponse:
    """Validate a logo for a draft not created yet; show the tile it will give."""
    upload = request.FILES.get("logo")
    if upload is None:
        return _logo_result(request, problem="Choose a PNG file.")
    try:
        processed = process_logo(upload_bytes(upload, MAX_LOGO_BYTES))
    except LogoError as error:
        return _logo_result(request, problem=str(error))
    return _logo_result(
        request,
        tile_url=_logo_data_url(processed.tile_png),
        note=f"{processed.width}×{processed.height} px PNG. It is stored when you create the "
        "draft.",
    )


def _logo_result(
    request: DeveloperRequest,
    *,
    problem: str | None = None,
    tile_url: str | None = None,
    note: str = "",
    integration: Integration | None = None,
    saved: bool = False,
) -> HttpResponse:
    context = {
        "problem": problem,
        "tile_url": tile_url,
        "note": note,
        "integration": integration,
        "saved": saved,
    }
    return render(request, "integrations/_logo_result.html", context)


@accepts_upload(MAX_LOGO_BYTES)
@require_POST
@developer_required
def integration_logo(request: DeveloperRequest, integration_id: int) -> HttpResponse:
    """Upload (or with `remove`, remove) the logo of a draft; answers with the new tile."""
    integration = access.get_integration(request.org, integration_id)
    upload = request.FILES.get("logo")
    try:
        if "remove" in request.POST:
            data = None
        elif upload is None:
            raise ActionError("Choose a PNG file.", field="logo")
        else:
            data = upload_bytes(upload, MAX_LOGO_BYTES)
        integration = actions.integration_set_logo(
            acting_user=request.user, integration=integration, data=data
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
