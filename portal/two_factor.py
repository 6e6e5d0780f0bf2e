"""Two-factor sign-in is required of reviewers and platform admins (offered to everyone).

A staff member without an authenticator app is sent to set one up before any other page;
only the pages that set it up, sign out, and static files stay open to them. Their API
calls made with the session answer 403 until then (API tokens are created on a page, so
they cannot have one made after this rule).
"""

from __future__ import annotations

from collections.abc import Callable

from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib import messages
from django.contrib.messages.storage.base import BaseStorage
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse

ENROL_MESSAGE = (
    "Reviewers and platform admins sign in with a second factor. Set up your "
    "authenticator app to continue."
)


def needs_enrolment(user: object) -> bool:
    """A reviewer or platform admin who has no authenticator app yet."""
    return bool(
        getattr(user, "is_authenticated", False)
        and getattr(user, "staff_role", "")
        and not is_mfa_enabled(user, [Authenticator.Type.TOTP])
    )


class RequireTwoFactorForStaffMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def _open_paths(self) -> tuple[str, ...]:
        return (
            reverse("mfa_activate_totp"),
            reverse("mfa_view_recovery_codes"),
            reverse("account_reauthenticate"),
            reverse("account_logout"),
            reverse("signout"),
            reverse("mfa_authenticate"),
            settings.STATIC_URL,
            "/healthz",
            "/readyz",
        )

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if needs_enrolment(request.user) and not request.path.startswith(self._open_paths()):
            if request.path.startswith("/api/"):
                return JsonResponse(
                    {"error": {"code": "two_factor_required", "message": ENROL_MESSAGE}},
                    status=403,
                )
            _tell_once(request)
            return redirect("mfa_activate_totp")
        return self.get_response(request)


def _tell_once(request: HttpRequest) -> None:
    pending = messages.get_messages(request)
    already = any(message.message == ENROL_MESSAGE for message in pending)
    if isinstance(pending, BaseStorage):
        pending.used = False  # reading them above must not drop them
    if not already:
        messages.warning(request, ENROL_MESSAGE)
