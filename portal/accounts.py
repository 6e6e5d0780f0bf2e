"""How the portal plugs into django-allauth: people sign up with an organisation, account
mails leave through a worker (`portal.mail`), and second-factor secrets are encrypted at
rest like every other secret (`portal.crypto`).

The flows themselves (sign-in, sign-up, email verification, password reset, TOTP and
recovery codes, their rate limits) are allauth's; docs/decisions.md says why.
"""

from __future__ import annotations

import time
from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.forms import SignupForm as AllauthSignupForm
from allauth.core import context as allauth_context
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value
from django import forms
from django.db import transaction
from django.http import HttpRequest

from portal import actions, crypto
from portal.errors import ActionError
from portal.mail import mail_queue
from portal.models import User


class SignupForm(AllauthSignupForm):
    """allauth's sign-up (email, password) plus the person's name and their new
    organisation's name."""

    full_name = forms.CharField(max_length=150, required=False, label="Your name")
    org_name = forms.CharField(max_length=120, label="Organisation name")

    field_order = ["full_name", "email", "password1", "org_name"]

    def clean_org_name(self) -> str:
        try:
            return actions.clean_org_name(self.cleaned_data.get("org_name", ""))
        except ActionError as error:
            raise forms.ValidationError(error.message) from None


class AccountAdapter(DefaultAccountAdapter):
    error_messages = {
        **DefaultAccountAdapter.error_messages,
        "email_password_mismatch": "That email and password do not match an account.",
        "too_many_login_attempts": "Too many failed sign-in attempts. Wait 15 minutes or "
        "reset your password.",
    }

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        """Render the mail here, where the request is known; a worker sends it."""
        message = self.render_mail(
            template_prefix, email, {"request": allauth_context.request, "email": email, **context}
        )
        mail_queue(to=message.to, subject=str(message.subject), body=str(message.body))

    @transaction.atomic
    def save_user(
        self, request: HttpRequest, user: Any, form: forms.Form, commit: bool = True
    ) -> Any:
        saved = super().save_user(request, user, form, commit=False)
        saved.full_name = (form.cleaned_data.get("full_name") or "").strip()[:150]
        saved.save()
        actions.signup_org_create(user=saved, org_name=form.cleaned_data["org_name"])
        return saved


class MFAAdapter(DefaultMFAAdapter):
    error_messages = {
        **DefaultMFAAdapter.error_messages,
        "cannot_delete_authenticator": "Reviewers and platform admins must keep two-factor "
        "sign-in on.",
        "incorrect_code": "That code is not right (or was already used): type the code your "
        "app shows now, or an unused recovery code.",
    }

    def encrypt(self, text: str) -> str:
        return crypto.encrypt(text)

    def decrypt(self, encrypted_text: str) -> str:
        return crypto.decrypt(encrypted_text)

    def can_delete_authenticator(self, authenticator: Authenticator) -> bool:
        """Reviewers and platform admins keep their authenticator app: two-factor sign-in
        is required of them."""
        user = authenticator.user
        return not (isinstance(user, User) and user.staff_role)


def two_factor_enrol(*, user: User, secret: str) -> list[str]:
    """Set up an authenticator app with a known key, and recovery codes; returns the
    codes. For accounts the portal makes itself (demo staff, tests): people enrol on the
    account page, where allauth makes the key."""
    TOTP.activate(user, secret)
    codes: list[str] = RecoveryCodes.activate(user).get_unused_codes()
    return codes


def totp_code_now(user: User) -> str:
    """The code the person's authenticator app shows now (demo logins under `make run`,
    and the browser tests' sign-in)."""
    authenticator = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
    secret = crypto.decrypt(authenticator.data["secret"])
    counter = int(time.time()) // mfa_settings.TOTP_PERIOD
    return str(format_hotp_value(hotp_value(secret, counter)))
