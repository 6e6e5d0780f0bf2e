"""The signed-in person's own settings: name, email, password, two-factor sign-in (its
pages are allauth's), API tokens."""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from django import forms
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from portal import actions
from portal.access import SignedInRequest
from portal.errors import ActionError
from portal.forms import (
    AccountEmailForm,
    AccountNameForm,
    AccountPasswordForm,
    NameForm,
    attach,
)
from portal.models import ApiToken, User


@login_required
def tokens(request: SignedInRequest) -> HttpResponse:
    form = NameForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        try:
            token, raw = actions.token_create(
                acting_user=request.user, org=request.org, name=form.cleaned_data["name"]
            )
        except ActionError as error:
            form.add_error("name", error.message)
        else:
            # The clear token appears in this response only; only its digest is stored.
            created = {"token": token, "raw": raw}
            form = NameForm()
    rows = ApiToken.objects.filter(user=request.user).select_related("org")
    return render(
        request, "account/tokens.html", {"tokens": rows, "form": form, "created": created}
    )


@require_POST
@login_required
def token_revoke(request: SignedInRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)
    actions.token_revoke(acting_user=request.user, token=token)
    messages.success(request, f"Token {token.name} revoked.")
    return redirect("account_tokens")


ACCOUNT_FORMS: dict[str, type[forms.Form]] = {
    "name": AccountNameForm,
    "email": AccountEmailForm,
    "password": AccountPasswordForm,
}
ACCOUNT_SAVED = {
    "name": "Your name is saved.",
    "email": "Your email is changed: sign in with it from now on (the first time, we send "
    "it a link to confirm it is yours).",
    "password": "Your password is changed.",
}


def _account_change(request: SignedInRequest, which: str, data: dict) -> None:
    if which == "name":
        actions.account_rename(acting_user=request.user, full_name=data["full_name"])
    elif which == "email":
        actions.account_change_email(acting_user=request.user, **data)
    else:
        actions.account_change_password(acting_user=request.user, **data)
        # Changing the password signs out every other session, but not this one.
        update_session_auth_hash(request, request.user)


@login_required
def account(request: SignedInRequest) -> HttpResponse:
    """The person's own name, sign-in email and password, each a form of its own."""
    which = request.POST.get("form", "") if request.method == "POST" else ""
    bound = {
        name: form_class(request.POST if name == which else None)
        for name, form_class in ACCOUNT_FORMS.items()
    }
    if not bound["name"].is_bound:
        bound["name"] = AccountNameForm(initial={"full_name": request.user.full_name})
    if which in bound and bound[which].is_valid():
        try:
            _account_change(request, which, bound[which].cleaned_data)
        except ActionError as error:
            attach(bound[which], error)
        else:
            messages.success(request, ACCOUNT_SAVED[which])
            return redirect("account")
    status = 400 if which and bound.get(which) is not None and bound[which].errors else 200
    context = {"forms": bound, "two_factor": two_factor_state(request.user)}
    return render(request, "account/account.html", context, status=status)


def two_factor_state(user: User) -> dict[str, object]:
    """What the two-factor section shows: whether an authenticator app is set up, how
    many recovery codes are left, and whether the person's role requires it."""
    kinds = {a.type: a for a in Authenticator.objects.filter(user=user)}
    codes = kinds.get(Authenticator.Type.RECOVERY_CODES)
    return {
        "totp": Authenticator.Type.TOTP in kinds,
        "recovery_left": len(codes.wrap().get_unused_codes()) if codes else None,
        "required": bool(user.staff_role),
        "role": user.get_staff_role_display().lower(),
    }
