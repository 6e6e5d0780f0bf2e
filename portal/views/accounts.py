"""Invitations. (Sign-in, sign-up and password reset are allauth's: portal.accounts.)"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from portal import actions
from portal.errors import ActionError
from portal.forms import InvitationAcceptForm, attach
from portal.tenancy import SESSION_ORG_KEY


def invitation(request: HttpRequest, token: str) -> HttpResponse:
    found = actions.invitation_for_token(token)
    if found is None:
        return render(request, "accounts/invitation_invalid.html", status=404)
    form = InvitationAcceptForm(request.POST or None)
    if request.method == "POST" and (request.user.is_authenticated or form.is_valid()):
        data = form.cleaned_data if not request.user.is_authenticated else {}
        try:
            membership = actions.invitation_accept(
                raw_token=token,
                user=request.user if request.user.is_authenticated else None,
                password=data.get("password", ""),
                full_name=data.get("full_name", ""),
            )
        except ActionError as error:
            if error.field:
                attach(form, error)
            else:
                messages.error(request, error.message)
        else:
            if not request.user.is_authenticated:
                login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
            request.session[SESSION_ORG_KEY] = membership.org_id
            messages.success(request, f"You joined {membership.org.name}.")
            return redirect("home")
    return render(request, "accounts/invitation.html", {"invitation": found, "form": form})
