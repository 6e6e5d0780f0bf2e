"""The API reference pages, served from local files under the site's CSP.

Swagger UI uses drf-spectacular's split view (its start-up script is a file, not inline).
Redoc gets a page of our own without web fonts from a CDN. Both inject their styles at run
time, so these two pages allow inline styles; scripts stay 'self' only.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.csp import CSP
from django.views.decorators.csp import csp_override
from drf_spectacular.views import SpectacularSwaggerSplitView

DOCS_CSP: dict[str, Sequence[str]] = {
    **settings.SECURE_CSP,
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "worker-src": [CSP.SELF, "blob:"],
}


swagger = csp_override(DOCS_CSP)(SpectacularSwaggerSplitView.as_view(url_name="api_schema"))


@csp_override(DOCS_CSP)
def redoc(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "api/redoc.html",
        {
            "schema_url": reverse("api_schema"),
            "redoc_js": static("drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"),
        },
    )
