"""Error pages in the portal's own layout."""

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from portal.access import PortalNotEnabled


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "404.html", status=404)


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = (
        str(exception) if exception and str(exception) else ("You do not have access to this page.")
    )
    # Where the person can do something about it: Request access lives on Org settings.
    next_step = None
    if isinstance(exception, PortalNotEnabled) and getattr(request, "membership", None):
        next_step = ("Request access in Org settings", reverse("org_settings"))
    return render(request, "403.html", {"message": message, "next_step": next_step}, status=403)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A refused form post (no or an outdated security token) on the normal 403 page."""
    return forbidden(
        request,
        PermissionDenied(
            "This form could not be accepted: its security token is missing or out of date "
            "(the page may have been open for a long time, or sent from another site). "
            "Reload the page and try again."
        ),
    )


@csrf_exempt  # it changes nothing, whatever the method
def api_not_found(request: HttpRequest) -> JsonResponse:
    """An address under /api/v1/ that names no operation: the API's 404, not a page."""
    return JsonResponse(
        {"error": {"code": "not_found", "message": "There is no API operation at this address."}},
        status=404,
    )


def server_error(request: HttpRequest) -> HttpResponse:
    return render(request, "500.html", status=500)
