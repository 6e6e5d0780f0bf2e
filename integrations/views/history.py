"""A draft's revision history: the revisions, any two compared, one restored."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from integrations import access, actions
from integrations.editor.revision_diff import revision_diff
from portal.access import DeveloperRequest, developer_required
from portal.errors import ActionError
from portal.params import parse_id
from portal.views.pages import paginate, query_without_page
from syncengine.core.manifest.normalize import normalize_manifest
from syncengine.core.manifest_diff import manifest_diff

HISTORY_PAGE_SIZE = 20


def _revision_number(value: str | None) -> int | None:
    return parse_id(value)


@require_GET
@developer_required
def integration_history(request: DeveloperRequest, integration_id: int) -> HttpResponse:
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
        diff = revision_diff(
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
def revision_restore(request: DeveloperRequest, integration_id: int, number: int) -> HttpResponse:
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
