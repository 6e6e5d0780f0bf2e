"""The developer_portal flag decides what an org sees; requests are granted by admins and
every step lands in the audit log."""

from django.urls import reverse

from portal.flags import DEVELOPER_PORTAL
from portal.models import AccessRequest, AuditEvent
from tests.signin import deliver_mails


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
    assert deliver_mails()[-1].to == ["integrations@localhost"]
    assert f"ORG ID {cast.globex.pk}" in deliver_mails()[-1].subject

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
    assert deliver_mails()[-1].to == ["bob@globex.test"]
    assert "granted" in deliver_mails()[-1].subject
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


# --- granting new organisations, declining with a reason, human names ---------------------


def _sign_up(client, email="dana@initech.test", org_name="Initech"):
    """Sign up, then confirm the email with the mailed link (which signs in)."""
    from tests.conftest import PASSWORD
    from tests.signin import link_in

    client.post(
        reverse("signup"),
        {"full_name": "Dana", "email": email, "password1": PASSWORD, "org_name": org_name},
    )
    [message] = [m for m in deliver_mails() if m.to == [email]]
    return client.post(link_in(message, "/accounts/confirm-email/"), follow=True)


def test_platform_admin_grants_the_portal_to_new_organisations(cast, client_for):
    from django.test import Client

    from portal.models import Organization, PlatformSettings

    admin = client_for(cast.adam)
    page = admin.get(reverse("platform_orgs"))
    assert b"Grant the Developer Portal to new organisations automatically" in page.content
    saved = admin.post(
        reverse("platform_settings"), {"grant_portal_to_new_orgs": "on"}, follow=True
    )
    assert b"New organisations get the Developer Portal at sign-up." in saved.content
    assert PlatformSettings.current().grant_portal_to_new_orgs
    changed = AuditEvent.objects.get(action="platform.settings_changed")
    assert changed.actor == cast.adam
    assert changed.after == {"grant_portal_to_new_orgs": True}

    client = Client()
    _sign_up(client)
    initech = Organization.objects.get(name="Initech")
    assert initech.flag_enabled(DEVELOPER_PORTAL)
    grant = AuditEvent.objects.get(org=initech, action="flag.enabled")
    assert grant.actor is None
    assert grant.after["reason"] == "granted to new organisations (platform setting)"
    assert client.get(reverse("portal_home")).status_code == 200

    # Switched off again, the next organisation asks as before.
    admin.post(reverse("platform_settings"), {})
    _sign_up(Client(), email="erin@hooli.test", org_name="Hooli")
    assert not Organization.objects.get(name="Hooli").flag_enabled(DEVELOPER_PORTAL)


def test_only_platform_admins_change_platform_settings(cast, client_for):
    from portal.models import PlatformSettings

    for user in (cast.alice, cast.rita):
        response = client_for(user).post(
            reverse("platform_settings"), {"grant_portal_to_new_orgs": "on"}
        )
        assert response.status_code == 403
    assert not PlatformSettings.current().grant_portal_to_new_orgs


def test_decline_needs_a_reason_which_the_requester_reads(
    cast, client_for, django_capture_on_commit_callbacks
):
    from portal import actions

    request = actions.access_request_create(
        acting_user=cast.bob, org=cast.globex, flag=DEVELOPER_PORTAL, message="Please"
    )
    admin = client_for(cast.adam)
    listing = admin.get(reverse("platform_access_requests"))
    assert b"Developer Portal</td>" in listing.content
    assert b">developer_portal<" not in listing.content

    refused = admin.post(
        reverse("platform_access_resolve", args=[request.pk]),
        {"decision": "decline", "reason": "  "},
        follow=True,
    )
    assert b"Give the reason for declining" in refused.content
    request.refresh_from_db()
    assert request.status == "pending"

    with django_capture_on_commit_callbacks(execute=True):
        declined = admin.post(
            reverse("platform_access_resolve", args=[request.pk]),
            {"decision": "decline", "reason": "We only open the portal to ESPs for now."},
            follow=True,
        )
    assert b"Globex Analytics: Developer Portal request declined." in declined.content
    assert b"declineed" not in declined.content
    request.refresh_from_db()
    assert request.status == "declined"
    assert request.decline_reason == "We only open the portal to ESPs for now."
    email = deliver_mails()[-1]
    assert email.to == ["bob@globex.test"]
    assert email.subject == "Developer Portal: your access request was declined"
    assert "We only open the portal to ESPs for now." in email.body
    assert "developer_portal" not in email.body
    event = AuditEvent.objects.get(action="access.declined")
    assert event.after == {
        "status": "declined",
        "reason": "We only open the portal to ESPs for now.",
    }

    settings_page = client_for(cast.bob).get(reverse("org_settings")).content
    assert b"was declined" in settings_page
    assert b"We only open the portal to ESPs for now." in settings_page
    assert b"Request access" in settings_page


def test_the_api_declines_with_a_reason_only(cast, api_for):
    from portal import actions

    request = actions.access_request_create(
        acting_user=cast.bob, org=cast.globex, flag=DEVELOPER_PORTAL
    )
    api = api_for(cast.adam, None)
    url = reverse("api_access_decline", args=[request.pk])
    refused = api.post(url, {}, format="json")
    assert refused.status_code == 400
    assert "reason" in refused.json()["error"]["fields"]
    answer = api.post(url, {"reason": "Not yet"}, format="json")
    assert answer.status_code == 200
    assert answer.json()["decline_reason"] == "Not yet"


def test_flashes_and_emails_name_flags_as_people_read_them(
    cast, client_for, django_capture_on_commit_callbacks
):
    admin = client_for(cast.adam)
    off = admin.post(
        reverse("platform_org_flag", args=[cast.acme.pk]),
        {"flag": DEVELOPER_PORTAL, "enabled": "false"},
        follow=True,
    )
    assert b"Developer Portal turned off for Acme Audiences." in off.content
    assert b"developer_portal" not in off.content.split(b"<main")[1].split(b"<table")[0]
    with django_capture_on_commit_callbacks(execute=True):
        client_for(cast.bob).post(reverse("org_request_access"), {"message": ""})
    assert "asked for the Developer Portal on Globex Analytics" in deliver_mails()[-1].body
    with django_capture_on_commit_callbacks(execute=True):
        granted = admin.post(
            reverse("platform_access_resolve", args=[AccessRequest.objects.get().pk]),
            {"decision": "grant"},
            follow=True,
        )
    assert b"Globex Analytics: Developer Portal request granted." in granted.content
    assert "request for the Developer Portal on Globex Analytics" in deliver_mails()[-1].body


def test_turning_a_flag_off_asks_first(cast, client_for):
    page = client_for(cast.adam).get(reverse("platform_orgs")).content.decode()
    turn_off = page[page.index('aria-label="Turn Developer Portal off for Acme Audiences"') :]
    turn_off = turn_off[: turn_off.index(">")]
    assert 'data-confirm="Turn the Developer Portal off for Acme Audiences?' in turn_off
