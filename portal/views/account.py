"""The signed-in person's own settings: API tokens."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from portal import actions
from portal.access import SignedInRequest
from portal.errors import ActionError
from portal.forms import NameForm
from portal.models import ApiToken


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
