"""Developer Portal pages."""

from __future__ import annotations

from django.shortcuts import render

from portal.access import developer_required


@developer_required
def portal_home(request):
    return render(request, "integrations/home.html")
