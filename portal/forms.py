"""Forms parse input for the pages; the rules themselves live in the actions."""

from __future__ import annotations

from django import forms

from portal.errors import ActionError
from portal.models import MemberRole, StaffRole


def attach(form: forms.Form, error: ActionError) -> None:
    """Show an action's refusal on the field it names (or on the form as a whole)."""
    field = error.field if error.field in form.fields else None
    form.add_error(field, error.message)


class InvitationAcceptForm(forms.Form):
    full_name = forms.CharField(max_length=150, required=False, label="Your name")
    password = forms.CharField(widget=forms.PasswordInput, max_length=200)


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(choices=MemberRole.choices, initial=MemberRole.MEMBER)
    is_developer = forms.BooleanField(
        required=False, initial=True, label="Developer (may use the Developer Portal)"
    )


class MemberForm(forms.Form):
    role = forms.ChoiceField(choices=MemberRole.choices)
    is_developer = forms.BooleanField(required=False)


class NameForm(forms.Form):
    name = forms.CharField(max_length=200)


class AccessRequestForm(forms.Form):
    message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        max_length=2000,
        label="Anything the integrations team should know",
    )


class CohortUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="Header row with user_id and/or amplitude_id; optional "
        "device_id, email and any user property columns.",
    )


class StaffRoleForm(forms.Form):
    email = forms.EmailField()
    staff_role = forms.ChoiceField(choices=StaffRole.choices, required=False)


class AuditFilterForm(forms.Form):
    org = forms.IntegerField(required=False, label="ORG ID", min_value=1)
    action = forms.CharField(required=False, max_length=60)
    actor = forms.CharField(required=False, max_length=254, label="Actor email")


class AccountNameForm(forms.Form):
    full_name = forms.CharField(max_length=150, required=False, label="Your name")


class AccountEmailForm(forms.Form):
    email = forms.EmailField(max_length=254, label="New email")
    current_password = forms.CharField(
        widget=forms.PasswordInput, max_length=200, label="Current password"
    )


class AccountPasswordForm(forms.Form):
    current_password = forms.CharField(
        widget=forms.PasswordInput, max_length=200, label="Current password"
    )
    new_password = forms.CharField(
        widget=forms.PasswordInput,
        max_length=200,
        label="New password",
        help_text="At least 8 characters, not only digits.",
    )
    confirmation = forms.CharField(
        widget=forms.PasswordInput, max_length=200, label="New password, again"
    )
