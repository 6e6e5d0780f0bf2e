"""The API reference pages, served from local files under the site's CSP.

Swagger UI uses drf-spectacular's split view (its start-up script is a file, not inline).
Redoc gets a page of our own without web fonts from a CDN, and its bundle is served with
its one remote resource (the vendor's "API docs by Redocly" logo, which Redoc has no
option to leave out) replaced by an empty image, so the page asks nothing of a CDN and
the CSP has nothing to refuse. Both inject their styles at run time, so these two pages
allow inline styles; scripts stay 'self' only.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.csp import CSP
from django.views.decorators.cache import cache_control
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_GET
from drf_spectacular.views import SpectacularSwaggerSplitView

DOCS_CSP: dict[str, Sequence[str]] = {
    **settings.SECURE_CSP,
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "worker-src": [CSP.SELF, "blob:"],
}


swagger = csp_override(DOCS_CSP)(SpectacularSwaggerSplitView.as_view(url_name="api_schema"))


REDOC_BUNDLE = "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"
REDOC_REMOTE_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
# An empty SVG, written without quotes so that it fits the bundle's string literal.
EMPTY_IMAGE = "data:image/svg+xml,%3Csvg%20xmlns%3D%27http%3A%2F%2Fwww.w3.org%2F2000%2Fsvg%27%2F%3E"


@cache
def redoc_bundle_text() -> str:
    """The Redoc bundle with its remote logo replaced (read once per process)."""
    found = finders.find(REDOC_BUNDLE)
    if not isinstance(found, str):
        raise FileNotFoundError(REDOC_BUNDLE)
    return Path(found).read_text(encoding="utf-8").replace(REDOC_REMOTE_LOGO, EMPTY_IMAGE)


@require_GET
@cache_control(max_age=86400, public=True)
def redoc_bundle(request: HttpRequest) -> HttpResponse:
    return HttpResponse(redoc_bundle_text(), content_type="text/javascript; charset=utf-8")


@csp_override(DOCS_CSP)
def redoc(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "api/redoc.html",
        {"schema_url": reverse("api_schema"), "redoc_js": reverse("api_redoc_bundle")},
    )
