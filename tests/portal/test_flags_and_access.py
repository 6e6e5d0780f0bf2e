"""The developer_portal flag decides what an org sees; requests are granted by admins and
every step lands in the audit log."""

from django.core import mail
from django.urls import reverse

from portal.flags import DEVELOPER_PORTAL
from portal.models import AccessRequest, AuditEvent


def test_org_with_the_flag_sees_the_developer_portal(cast, client_for):
    page = client_for(cast.alice).get(reverse("org_settings"))
    assert page.status_code == 200
    assert b"Open the Developer Portal" in page.content
    assert b"Request access" not in page.content
    assert client_for(cast.alice).get(reverse("portal_home")).status_code == 200


def test_org_without_the_flag_is_offered_request_access(cast, client_for):
    client = client_for(cast.bob)
    page = client.get(reverse("org_settings"))
    assert b"Request access" in page.content
    assert b"Open the Developer Portal" not in page.content
    denied = client.get(reverse("portal_home"))
    assert denied.status_code == 403
    assert b"not enabled for your organisation" in denied.content
    assert f'href="{reverse("org_settings")}">Request access'.encode() in denied.content


def test_a_member_without_the_developer_permission_cannot_open_the_portal(cast, client_for):
    response = client_for(cast.alan).get(reverse("portal_home"))
    assert response.status_code == 403
    assert b"developer permission" in response.content
    assert b">Request access" not in response.content


def test_request_then_grant_switches_the_flag_emails_and_audits(
    cast, client_for, django_capture_on_commit_callbacks
):
    bob = client_for(cast.bob)
    with django_capture_on_commit_callbacks(execute=True):
        response = bob.post(
            reverse("org_request_access"), {"message": "We are an ESP."}, follow=True
        )
    assert b"requested on" in response.content
    request = AccessRequest.objects.get(org=cast.globex)
    assert request.status == "pending"
    assert mail.outbox[-1].to == ["integrations@localhost"]
    assert f"ORG ID {cast.globex.pk}" in mail.outbox[-1].subject

    # A second request while one is pending is refused and changes nothing.
    again = bob.post(reverse("org_request_access"), {"message": ""}, follow=True)
    assert b"already requested" in again.content
    assert AccessRequest.objects.filter(org=cast.globex).count() == 1

    with django_capture_on_commit_callbacks(execute=True):
        client_for(cast.adam).post(
            reverse("platform_access_resolve", args=[request.pk]), {"decision": "grant"}
        )
    request.refresh_from_db()
    assert request.status == "granted"
    assert cast.globex.flag_enabled(DEVELOPER_PORTAL)
    assert mail.outbox[-1].to == ["bob@globex.test"]
    assert "granted" in mail.outbox[-1].subject
    actions_logged = list(
        AuditEvent.objects.filter(org=cast.globex).order_by("id").values_list("action", flat=True)
    )
    assert actions_logged[-3:] == ["access.requested", "flag.enabled", "access.granted"]
    flag_row = AuditEvent.objects.get(org=cast.globex, action="flag.enabled")
    assert flag_row.actor == cast.adam
    assert flag_row.before == {DEVELOPER_PORTAL: False}
    assert flag_row.after == {DEVELOPER_PORTAL: True}
    assert b"Open the Developer Portal" in bob.get(reverse("org_settings")).content


def test_admin_toggles_flags_from_the_org_list(cast, client_for):
    admin = client_for(cast.adam)
    page = admin.get(reverse("platform_orgs"))
    assert b"Globex Analytics" in page.content
    admin.post(
        reverse("platform_org_flag", args=[cast.acme.pk]),
        {"flag": DEVELOPER_PORTAL, "enabled": "false"},
    )
    assert not cast.acme.flag_enabled(DEVELOPER_PORTAL)
    assert client_for(cast.alice).get(reverse("portal_home")).status_code == 403


def test_unknown_flag_is_refused_and_changes_nothing(cast, client_for):
    before = AuditEvent.objects.count()
    response = client_for(cast.adam).post(
        reverse("platform_org_flag", args=[cast.acme.pk]),
        {"flag": "teleport", "enabled": "true"},
        follow=True,
    )
    assert b"Unknown feature flag" in response.content
    assert AuditEvent.objects.count() == before


def test_only_platform_admins_reach_admin_pages(cast, client_for):
    for user in (cast.alice, cast.bob, cast.rita):
        for name in (
            "platform_orgs",
            "platform_access_requests",
            "platform_audit",
            "platform_staff",
        ):
            assert client_for(user).get(reverse(name)).status_code == 403, (user, name)
    for name in ("platform_orgs", "platform_access_requests", "platform_audit", "platform_staff"):
        assert client_for(cast.adam).get(reverse(name)).status_code == 200


def test_audit_log_filters(cast, client_for):
    admin = client_for(cast.adam)
    page = admin.get(reverse("platform_audit"), {"org": cast.globex.pk})
    assert b"Globex" in page.content
    assert b"Acme Audiences" not in page.content
    page = admin.get(reverse("platform_audit"), {"action": "flag."})
    assert b'badge-info">flag.enabled' in page.content
    assert b'badge-info">org.created' not in page.content
    page = admin.get(reverse("platform_audit"), {"actor": "bob@globex.test"})
    assert b"bob@globex.test" in page.content
    assert b"adam@platform.test" not in page.content


def test_staff_roles_are_managed_by_admins(cast, client_for):
    admin = client_for(cast.adam)
    admin.post(reverse("platform_staff"), {"email": "alan@acme.test", "staff_role": "reviewer"})
    cast.alan.refresh_from_db()
    assert cast.alan.is_reviewer
    event = AuditEvent.objects.filter(action="staff.role_changed").latest("id")
    assert event.after == {"staff_role": "reviewer"}
    response = admin.post(
        reverse("platform_staff"), {"email": "nobody@x.test", "staff_role": "reviewer"}
    )
    assert b"No account has this email" in response.content
