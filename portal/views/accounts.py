"""Sign in, sign up, sign out, password reset and invitations."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from portal import actions
from portal.errors import ActionError
from portal.forms import InvitationAcceptForm, SigninForm, SignupForm, attach
from portal.ratelimit import (
    client_address,
    reset_mail_allowed,
    signin_blocked,
    signin_failed,
    signin_succeeded,
)
from portal.tenancy import SESSION_ORG_KEY


def _next_url(request: HttpRequest) -> str | None:
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(
        target, {request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return None


def signin(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    form = SigninForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"].lower()
        address = client_address(request)
        if signin_blocked(email, address):
            form.add_error(
                None, "Too many failed sign-in attempts. Wait 15 minutes or reset your password."
            )
            status = 429
        else:
            user = authenticate(request, email=email, password=form.cleaned_data["password"])
            if user is None:
                signin_failed(email, address)
                form.add_error(None, "That email and password do not match an account.")
            else:
                signin_succeeded(email, address)
                login(request, user)
                return redirect(_next_url(request) or "home")
    return render(
        request,
        "accounts/signin.html",
        {"form": form, "next": _next_url(request) or ""},
        status=status,
    )


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = actions.account_signup(**form.cleaned_data)
        except ActionError as error:
            attach(form, error)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, "Welcome! Your organisation is ready.")
            return redirect("home")
    return render(request, "accounts/signup.html", {"form": form})


@require_POST
def signout(request: HttpRequest) -> HttpResponse:
    logout(request)
    messages.info(request, "You are signed out.")
    return redirect("signin")


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


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "accounts/password_reset.html"
    email_template_name = "emails/password_reset.txt"
    subject_template_name = "emails/password_reset_subject.txt"
    success_url = reverse_lazy("password_reset_done")

    def form_valid(self, form: PasswordResetForm) -> HttpResponse:
        if not reset_mail_allowed(form.cleaned_data["email"], client_address(self.request)):
            form.add_error(
                None,
                "Too many password-reset emails were asked for. Check your inbox (and spam "
                "folder) for the last one, or try again in an hour.",
            )
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("password_reset_complete")


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"
