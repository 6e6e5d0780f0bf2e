"""Where a new draft's configuration starts (between Part 1 and Part 2): blank, the demo
partner's API of the draft's type, or an imported manifest.

A blank draft opens the editor as it is; the other two replace the skeleton, keeping the
name and type chosen in Part 1 (the skeleton stays in the revision history).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render

from demo_partner.manifests import guided_manifest
from integrations import access, actions
from integrations.models import Integration
from integrations.views.drafts import MAX_MANIFEST_UPLOAD, manifest_problem
from integrations.views.uploads import upload_bytes
from portal.access import DeveloperRequest, developer_required
from portal.errors import ActionError
from syncengine.core.manifest.normalize import ManifestError, load_manifest

DEMO_API = {
    "list": "list API: create a list, add and remove its members",
    "property": "property API: one call sets in_cohort on each user",
}


def demo_partner_url() -> str:
    """Where the platform's demo partner listens, or "" where it runs none."""
    url: str = settings.DEMO_PARTNER_URL
    return url


def _start(request: DeveloperRequest, integration: Integration) -> Integration | None:
    """Apply the chosen start; None for a blank one."""
    choice = request.POST.get("start", "")
    if choice == "blank":
        return None
    if choice == "demo":
        if not demo_partner_url():
            raise ActionError("This platform runs no demo partner.", field="start")
        return actions.integration_start_from(
            acting_user=request.user,
            integration=integration,
            manifest=guided_manifest(
                demo_partner_url(), integration.integration_type, name=integration.display_name
            ),
            note="Started from the demo partner",
        )
    if choice == "import":
        upload = request.FILES.get("file")
        if upload is None:
            raise ActionError("Choose a manifest file (.json) to import.", field="file")
        try:
            manifest = load_manifest(upload_bytes(upload, MAX_MANIFEST_UPLOAD))
        except ManifestError as error:
            raise ActionError(
                f"The file is not a valid manifest: {manifest_problem(error)}", field="file"
            ) from None
        return actions.integration_start_from(
            acting_user=request.user,
            integration=integration,
            manifest=manifest,
            note="Started from an imported manifest",
        )
    raise ActionError("Choose how to start: blank, the demo partner or a manifest.", field="start")


@developer_required
def integration_start(request: DeveloperRequest, integration_id: int) -> HttpResponse:
    integration = access.get_integration(request.org, integration_id)
    error = None
    if request.method == "POST":
        try:
            started = _start(request, integration)
        except ActionError as refused:
            error = refused
        else:
            if started is not None:
                source = (
                    f"the demo partner's {integration.integration_type} API"
                    if request.POST.get("start") == "demo"
                    else "your manifest"
                )
                messages.success(
                    request,
                    f"“{integration.display_name}” starts from {source}. Look it over, then "
                    "go to step 3, Test.",
                )
            return redirect("integration_editor", integration.pk)
    return render(
        request,
        "integrations/start.html",
        {
            "integration": integration,
            "demo_url": demo_partner_url(),
            "demo_api": DEMO_API[integration.integration_type],
            "error": error,
            "first_revision": integration.revision <= 1,
        },
        status=400 if error else 200,
    )
