"""Error pages in the portal's own layout."""

from django.shortcuts import render


def not_found(request, exception=None):
    return render(request, "404.html", status=404)


def forbidden(request, exception=None):
    message = (
        str(exception) if exception and str(exception) else ("You do not have access to this page.")
    )
    return render(request, "403.html", {"message": message}, status=403)


def server_error(request):
    return render(request, "500.html", status=500)
