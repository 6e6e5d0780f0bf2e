"""Developer Portal pages through the Django test client: every view, its refusals (a clear
message and nothing changed) and another organisation's drafts (404)."""

from __future__ import annotations

import base64
import json

import pytest

from integrations import actions
from integrations.models import Integration, IntegrationRevision
from portal import actions as portal_actions
from portal.flags import DEVELOPER_PORTAL
from syncengine.core.manifest.normalize import canonical_json, normalize_manifest
from tests.integrations.conftest import fixture_manifest, png_bytes
from tests.integrations.forms import form_values, state_post


@pytest.fixture
def globex_partner(cast, client_for):
    """bob, with the portal switched on for Globex: a real partner of another org."""
    portal_actions.flag_set(
        acting_user=cast.adam, org=cast.globex, flag=DEVELOPER_PORTAL, enabled=True
    )
    return client_for(cast.bob)


def url(integration: Integration, suffix: str = "") -> str:
    return f"/portal/integrations/{integration.pk}/{suffix}"


def editor_state(client, integration) -> dict[str, str]:
    return form_values(client.get(url(integration, "configure")).content.decode())


def unchanged(integration: Integration) -> bool:
    fresh = Integration.objects.get(pk=integration.pk)
    return (fresh.config, fresh.revision, fresh.logo_id, fresh.display_name) == (
        integration.config,
        integration.revision,
        integration.logo_id,
        integration.display_name,
    )


def png_upload(name="logo.png", data=None):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data if data is not None else png_bytes(), "image/png")


# --------------------------------------------------------------------------------------
# Who may come in


def test_pages_need_a_developer_of_an_org_with_the_portal(cast, client_for, draft):
    from django.test import Client

    assert client_for(cast.alan).get("/portal/").status_code == 403  # not a developer
    assert client_for(cast.bob).get("/portal/").status_code == 403  # Globex: flag off
    response = Client().get(url(draft, "configure"))
    assert response.status_code == 302 and "/signin/" in response["Location"]


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("get", ""),
        ("get", "tile"),
        ("get", "configure"),
        ("get", "history"),
        ("get", "manifest.json"),
        ("get", "check-name?display_name=X"),
        ("post", "preview"),
        ("post", "save"),
        ("post", "auth-method"),
        ("post", "copy-errors"),
        ("post", "part"),
        ("post", "logo"),
        ("post", "import"),
        ("post", "duplicate"),
        ("post", "delete"),
        ("post", "revisions/1/restore"),
    ],
)
def test_another_orgs_partner_gets_404_and_changes_nothing(globex_partner, draft, method, suffix):
    response = getattr(globex_partner, method)(url(draft, suffix))
    assert response.status_code == 404
    assert unchanged(draft)
    assert Integration.objects.count() == 1


# --------------------------------------------------------------------------------------
# Home


def test_home_explains_the_first_step_when_there_is_nothing(alice):
    page = alice.get("/portal/").content.decode()
    assert "Build your first cohort integration" in page
    assert "Start with Part 1: your tile" in page
    assert 'href="/portal/new"' in page


def test_home_lists_the_orgs_integrations_as_cards(cast, alice, draft, globex_partner):
    actions.integration_create(
        acting_user=cast.bob, org=cast.globex, display_name="Globex Sync", integration_type="list"
    )
    page = alice.get("/portal/").content.decode()
    assert page.count('class="ig-card"') == 1
    assert "Acme Audiences" in page and "Globex Sync" not in page
    assert "List-based" in page and ">Draft<" in page
    assert "by Alice Partner" in page
    assert url(draft, "configure") in page


def test_home_searches_filters_and_paginates(cast, alice):
    for n in range(14):
        actions.integration_create(
            acting_user=cast.alice,
            org=cast.acme,
            display_name=f"Partner {n:02d}",
            integration_type="property" if n % 2 else "list",
        )
    Integration.objects.filter(display_name="Partner 03").update(status="approved")
    first = alice.get("/portal/").content.decode()
    assert first.count('class="ig-card"') == 12
    assert "Page 1 of 2" in first
    assert alice.get("/portal/?page=2").content.decode().count('class="ig-card"') == 2
    found = alice.get("/portal/", {"q": "partner 1"}).content.decode()
    assert found.count('class="ig-card"') == 4
    approved = alice.get("/portal/", {"status": "approved"}).content.decode()
    assert approved.count('class="ig-card"') == 1 and "Partner 03" in approved
    assert 'aria-current="true">Approved <span class="pill-count">1</span>' in approved
    nothing = alice.get("/portal/", {"q": "zzz"}).content.decode()
    assert "No integrations match" in nothing


def test_an_unknown_status_filter_is_explained(alice, draft):
    page = alice.get("/portal/", {"status": "sideways"}).content.decode()
    assert "There is no status “sideways”; showing every integration." in page
    assert page.count('class="ig-card"') == 1


# --------------------------------------------------------------------------------------
# Part 1: a new draft


def test_new_draft_with_its_logo(cast, alice):
    response = alice.post(
        "/portal/new",
        {"display_name": " Acme Audiences ", "integration_type": "property", "logo": png_upload()},
    )
    integration = Integration.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url(integration, "start")  # then where Part 2 starts
    assert integration.display_name == "Acme Audiences"
    assert integration.integration_type == "property"
    assert integration.logo is not None
    assert list(integration.config["endpoints"]) == ["update_users"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"display_name": "", "integration_type": "list"}, "This field is required."),
        ({"display_name": "Taken", "integration_type": "list"}, "already the name of another"),
        ({"display_name": "New", "integration_type": "webhook"}, "Select a valid choice"),
        ({"display_name": "New", "integration_type": ""}, "Choose list-based or property-based."),
        ({"display_name": "N" * 101, "integration_type": "list"}, "at most 100 characters"),
    ],
)
def test_new_draft_refusals(cast, alice, data, message):
    actions.integration_create(
        acting_user=cast.alice, org=cast.acme, display_name="Taken", integration_type="list"
    )
    response = alice.post("/portal/new", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Integration.objects.count() == 1


def test_a_bad_logo_creates_nothing(alice):
    jpeg = png_upload(data=b"\xff\xd8\xff\xe0" + b"0" * 100)
    response = alice.post(
        "/portal/new", {"display_name": "Acme", "integration_type": "list", "logo": jpeg}
    )
    assert response.status_code == 400
    assert "This file is a JPEG image, not a PNG." in response.content.decode()
    assert not Integration.objects.exists()


def test_the_name_is_checked_as_it_is_typed(cast, alice, draft):
    check = "/portal/new/check-name"
    assert "is available" in alice.get(check, {"display_name": "Fresh"}).content.decode()
    taken = alice.get(check, {"display_name": "ACME audiences"}).content.decode()
    assert "already the name of another integration" in taken and "data-name-problem" in taken
    assert "is required" in alice.get(check, {"display_name": "  "}).content.decode()
    # A draft keeps its own name.
    own = alice.get(url(draft, "check-name"), {"display_name": "Acme Audiences"})
    assert "is available" in own.content.decode()


def test_the_logo_is_checked_before_the_draft_exists(alice):
    good = alice.post("/portal/new/check-logo", {"logo": png_upload()}).content.decode()
    assert "256×256 px PNG" in good and 'src="data:image/png;base64,' in good
    small = alice.post("/portal/new/check-logo", {"logo": png_upload(data=png_bytes(16, 16))})
    assert "it must be at least 64×64 px" in small.content.decode()
    assert "Choose a PNG file." in alice.post("/portal/new/check-logo").content.decode()
    assert not Integration.objects.exists()


# --------------------------------------------------------------------------------------
# Part 1: an existing draft


def test_tile_page_shows_the_draft_and_its_fixed_type(alice, draft):
    page = alice.get(url(draft, "tile")).content.decode()
    assert 'value="Acme Audiences"' in page
    assert 'value="list" checked disabled' in page
    assert "Tile preview" in page and 'class="dest-tile dest-tile-preview"' in page


def test_rename_from_the_tile_page(alice, draft):
    response = alice.post(
        url(draft, "tile"),
        {"display_name": "Acme Lists", "base_revision": draft.revision, "continue": "1"},
    )
    assert response.status_code == 302 and response["Location"] == url(draft, "configure")
    draft.refresh_from_db()
    assert draft.display_name == "Acme Lists" and draft.config["display_name"] == "Acme Lists"


def test_rename_refusals_change_nothing(cast, alice, draft):
    actions.integration_create(
        acting_user=cast.alice, org=cast.acme, display_name="Other", integration_type="list"
    )
    taken = alice.post(url(draft, "tile"), {"display_name": "other", "base_revision": "1"})
    assert taken.status_code == 400 and "already the name" in taken.content.decode()
    stale = alice.post(url(draft, "tile"), {"display_name": "New name", "base_revision": "99"})
    assert stale.status_code == 400 and "saved elsewhere" in stale.content.decode()
    assert unchanged(draft)


def test_logo_upload_and_removal_on_a_draft(alice, draft):
    saved = alice.post(url(draft, "logo"), {"logo": png_upload()}, HTTP_HX_REQUEST="true")
    draft.refresh_from_db()
    assert saved.status_code == 200 and draft.logo is not None
    page = saved.content.decode()
    assert "Logo saved." in page and f"?kind=tile&amp;v={draft.logo_id[:12]}" in page
    assert f'id="base-revision" value="{draft.revision}" hx-swap-oob="true"' in page
    removed = alice.post(url(draft, "logo"), {"remove": "1"}, HTTP_HX_REQUEST="true")
    draft.refresh_from_db()
    assert "Logo removed." in removed.content.decode() and draft.logo is None


def test_a_refused_logo_keeps_the_current_one(alice, draft):
    alice.post(url(draft, "logo"), {"logo": png_upload()}, HTTP_HX_REQUEST="true")
    draft.refresh_from_db()
    gif = png_upload(data=b"GIF89a" + b"0" * 100)
    response = alice.post(url(draft, "logo"), {"logo": gif}, HTTP_HX_REQUEST="true")
    assert "This file is a GIF image, not a PNG." in response.content.decode()
    assert unchanged(draft)
    plain = alice.post(url(draft, "logo"), {})
    assert plain.status_code == 302 and unchanged(draft)


# --------------------------------------------------------------------------------------
# Part 2: the editor


def test_editor_renders_every_part_of_the_configuration(alice, draft):
    page = alice.get(url(draft, "configure")).content.decode()
    for needle in (
        'id="f-auth.method"',
        'name="custom_fields.1.options.1.value" value="eu"',
        'name="mapping_fields.0.options.3" value="device_id"',
        'name="endpoints.create_list.list_id_path" value="data.id"',
        'id="f-endpoints.remove_users.item_template"',
        "Testing Integration",
        "Connect to Acme Audiences",
        "Variable tracker",
        'id="curl-add_users"',
        '<script type="application/json" id="editor-data" nonce=',
    ):
        assert needle in page, needle


@pytest.mark.parametrize("name", ["acme_list", "jsonapi_list", "property_basic", "no_auth_minimal"])
def test_the_rendered_form_saves_back_the_same_configuration(cast, alice, name):
    integration = actions.integration_import(
        acting_user=cast.alice, org=cast.acme, manifest=fixture_manifest(name)
    )
    before = normalize_manifest(integration.config)
    response = alice.post(
        url(integration, "save"),
        state_post(editor_state(alice, integration), base_revision=integration.revision),
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 200, response.content
    integration.refresh_from_db()
    assert normalize_manifest(integration.config) == before


def test_preview_of_unsaved_edits(alice, draft):
    state = editor_state(alice, draft)
    state["custom_fields.1.display_name"] = "Data region"
    state["endpoints.add_users.payload"] = '{"ids": $items, "cohort": "$cohort_name"}'
    response = alice.post(url(draft, "preview"), state_post(state))
    body = response.json()
    assert response.status_code == 200
    assert "Data region" in body["panel"]
    assert '"cohort": "Saturday' in body["panel"].replace("&#34;", '"')
    assert "alice-1" in body["panel"]
    assert "No problems found." in body["summary"]
    assert body["data"]["valid"] is True
    assert "endpoints.add_users.payload" in body["data"]["suggestions"]
    assert unchanged(draft)


def test_preview_flags_an_undeclared_variable_with_a_link(alice, draft):
    state = editor_state(alice, draft)
    state["endpoints.create_list.url"] = "https://api.acme.test/$regoin/lists"
    body = alice.post(url(draft, "preview"), state_post(state)).json()
    problem = next(p for p in body["data"]["problems"] if p["code"] == "undeclared_variable")
    assert problem["target"] == "endpoints.create_list.url"
    assert 'data-focus="endpoints.create_list.url"' in body["summary"]
    assert "Did you mean $region?" in body["summary"]
    assert 'data-variable="regoin"' in body["panel"] and "Not declared" in body["panel"]


def test_preview_masks_secrets(alice, draft):
    body = alice.post(url(draft, "preview"), state_post(editor_state(alice, draft))).json()
    assert "sample-bearer-token" not in body["panel"]
    assert "Authorization: Bearer ••••••" in body["panel"]


def test_preview_refuses_a_malformed_state(alice, draft):
    response = alice.post(url(draft, "preview"), {"state": "{not json"})
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]["message"]


def test_autosave_amends_and_an_explicit_save_keeps_a_revision(alice, draft):
    state = editor_state(alice, draft)
    state["endpoints.create_list.list_id_path"] = "list.id"
    auto = alice.post(
        url(draft, "save"),
        state_post(state, base_revision=draft.revision, autosave="1"),
        HTTP_ACCEPT="application/json",
    ).json()
    draft.refresh_from_db()
    assert draft.config["endpoints"]["create_list"]["list_id_path"] == "list.id"
    assert auto["revision"] == draft.revision == 2
    state["endpoints.create_list.list_id_path"] = "lists.0.id"
    again = alice.post(
        url(draft, "save"),
        state_post(state, base_revision=2, autosave="1"),
        HTTP_ACCEPT="application/json",
    ).json()
    assert again["revision"] == 2  # the same person's autosaves amend one revision
    # Nothing new since the autosave: the explicit save keeps it (as "Saved") rather than
    # adding a copy; a change after that is a revision of its own.
    explicit = alice.post(
        url(draft, "save"), state_post(state, base_revision=2), HTTP_ACCEPT="application/json"
    ).json()
    assert explicit["revision"] == 2 and explicit["saved"] is True
    state["endpoints.create_list.list_id_path"] = "data.id"
    explicit = alice.post(
        url(draft, "save"), state_post(state, base_revision=2), HTTP_ACCEPT="application/json"
    ).json()
    assert explicit["revision"] == 3
    notes = IntegrationRevision.objects.filter(integration=draft).order_by("number")
    assert list(notes.values_list("note", flat=True)) == ["Imported", "Saved", "Saved"]


def test_a_stale_save_is_refused_with_409(alice, draft):
    state = editor_state(alice, draft)
    state["endpoints.create_list.list_id_path"] = "elsewhere"
    response = alice.post(
        url(draft, "save"),
        state_post(state, base_revision=draft.revision + 5, autosave="1"),
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 409
    assert "saved elsewhere" in response.json()["error"]["message"]
    assert unchanged(draft)


def test_a_malformed_save_changes_nothing(alice, draft):
    response = alice.post(
        url(draft, "save"), {"state": json.dumps({"a": 1})}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 400
    assert "map input names to text" in response.json()["error"]["message"]
    assert unchanged(draft)


def test_a_plain_form_post_saves_and_comes_back(alice, draft):
    state = editor_state(alice, draft)
    state["slugify_cohort_name"] = "on"
    response = alice.post(url(draft, "save"), {**state, "base_revision": draft.revision})
    assert response.status_code == 302 and response["Location"] == url(draft, "configure")
    draft.refresh_from_db()
    assert draft.config["slugify_cohort_name"] is True


def test_switching_auth_renders_the_new_default_fields(alice, draft):
    state = editor_state(alice, draft)
    state["auth.method"] = "basic"
    response = alice.post(url(draft, "auth-method"), state_post(state, previous_method="bearer"))
    page = response.content.decode()
    assert response.status_code == 200
    assert 'name="custom_fields.0.variable" value="api_key"' in page
    assert 'name="custom_fields.1.variable" value="secret_key"' in page
    assert 'name="custom_fields.2.variable" value="region"' in page
    assert 'value="basic" id="auth-method-basic" checked' in page
    assert unchanged(draft)  # the editor saves it afterwards, like any edit


def test_switching_to_an_unknown_auth_method_is_refused(alice, draft):
    state = editor_state(alice, draft)
    state["auth.method"] = "oauth"
    response = alice.post(url(draft, "auth-method"), state_post(state, previous_method="bearer"))
    assert response.status_code == 400
    assert "Choose one of the four auth methods." in response.json()["error"]["message"]


def test_copying_error_classifications_between_endpoints(alice, draft):
    state = editor_state(alice, draft)
    state.update(
        {
            "endpoints.create_list.errors.0.status": "401",
            "endpoints.create_list.errors.0.reason": "Unauthorized",
            "endpoints.create_list.errors.0.action": "fail",
        }
    )
    response = alice.post(
        url(draft, "copy-errors"), state_post(state, source="create_list", target="add_users")
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="errors-add_users"' in page
    assert 'name="endpoints.add_users.errors.0.status" value="401"' in page
    assert unchanged(draft)


@pytest.mark.parametrize(
    ("source", "target", "message"),
    [
        ("add_users", "add_users", "Choose another endpoint to copy from."),
        ("update_users", "add_users", "no endpoint 'update_users'"),
        ("create_list", "nowhere", "no endpoint 'nowhere'"),
    ],
)
def test_copying_errors_refusals(alice, draft, source, target, message):
    state = editor_state(alice, draft)
    response = alice.post(
        url(draft, "copy-errors"), state_post(state, source=source, target=target)
    )
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


# --------------------------------------------------------------------------------------
# Manifest export and import


def test_export_downloads_the_canonical_manifest(alice, draft):
    alice.post(url(draft, "logo"), {"logo": png_upload()}, HTTP_HX_REQUEST="true")
    draft.refresh_from_db()
    response = alice.get(url(draft, "manifest.json"))
    assert response["Content-Disposition"] == 'attachment; filename="acme-audiences.manifest.json"'
    manifest = json.loads(response.content)
    assert base64.b64decode(manifest["logo_png_base64"]) == bytes(draft.logo.png)
    assert response.content == canonical_json(manifest)


def test_import_into_a_draft_replaces_its_configuration(alice, draft):
    manifest = fixture_manifest("jsonapi_list")
    manifest["display_name"] = "Acme Audiences"
    upload = png_upload("m.json", json.dumps(manifest).encode())
    response = alice.post(url(draft, "import"), {"file": upload, "base_revision": draft.revision})
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.config["auth"]["method"] == "api_key_header"
    assert draft.revisions.first().note == "Imported manifest"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"display_name": "X",', "Nothing was imported: "),
        (b'{"display_name": "X", "display_name": "Y"}', "duplicate key"),
        (json.dumps({**fixture_manifest("property_basic")}).encode(), "cannot change"),
        (b"[1, 2]", "must be a JSON object"),
    ],
)
def test_import_refusals_change_nothing(alice, draft, content, message):
    upload = png_upload("m.json", content)
    response = alice.post(url(draft, "import"), {"file": upload}, follow=True)
    assert message in response.content.decode()
    assert unchanged(draft)


def test_import_without_a_file(alice, draft):
    response = alice.post(url(draft, "import"), {}, follow=True)
    assert "Choose a manifest file (.json) to import." in response.content.decode()
    assert unchanged(draft)


def test_import_as_a_new_draft(alice, draft):
    upload = png_upload("m.json", json.dumps(fixture_manifest("property_basic")).encode())
    response = alice.post("/portal/import", {"file": upload})
    created = Integration.objects.get(display_name="Tagger CRM")
    assert response["Location"] == url(created, "configure")
    taken = png_upload("m.json", json.dumps(fixture_manifest("acme_list")).encode())
    refused = alice.post("/portal/import", {"file": taken}, follow=True).content.decode()
    assert "Nothing was imported." in refused and "already the name" in refused
    assert Integration.objects.count() == 2


# --------------------------------------------------------------------------------------
# Duplicate, delete


def test_duplicate_and_delete(alice, draft):
    response = alice.post(url(draft, "duplicate"))
    copy = Integration.objects.get(display_name="Acme Audiences (copy)")
    assert response["Location"] == url(copy, "configure")
    assert copy.config["endpoints"] == draft.config["endpoints"]
    deleted = alice.post(url(copy, "delete"), follow=True)
    assert "“Acme Audiences (copy)” was deleted." in deleted.content.decode()
    assert list(Integration.objects.values_list("pk", flat=True)) == [draft.pk]
    assert alice.get(url(draft, "delete")).status_code == 405


# --------------------------------------------------------------------------------------
# Revision history


def save_config(client, integration, **changes) -> None:
    state = editor_state(client, integration)
    state.update(changes)
    integration.refresh_from_db()
    client.post(
        url(integration, "save"),
        state_post(state, base_revision=integration.revision),
        HTTP_ACCEPT="application/json",
    )


def test_history_shows_a_readable_diff(alice, draft):
    save_config(alice, draft, **{"custom_fields.1.display_name": "Data region"})
    save_config(alice, draft, **{"endpoints.add_users.payload": '{\n  "userIds": $items\n}'})
    page = alice.get(url(draft, "history")).content.decode()
    assert "Changes from revision 2 to 3" in page
    assert "Add users › payload" in page and 'class="dl dl-added"' in page
    compared = alice.get(url(draft, "history"), {"from": 1, "to": 3}).content.decode()
    assert "Custom field 2 (Data region) › display name" in compared
    assert "<code>Region</code>" in compared and "<code>Data region</code>" in compared


@pytest.mark.parametrize("query", [{"from": "abc"}, {"from": 7}, {"to": 99}])
def test_history_with_an_unknown_revision_says_so(alice, draft, query):
    response = alice.get(url(draft, "history"), query)
    assert response.status_code == 400
    assert "There is no revision" in response.content.decode()


def test_restore_an_earlier_revision(alice, draft):
    save_config(alice, draft, **{"custom_fields.1.display_name": "Data region"})
    response = alice.post(url(draft, "revisions/1/restore"), follow=True)
    draft.refresh_from_db()
    assert "Revision 1 restored as revision 3" in response.content.decode()
    assert draft.config["custom_fields"][1]["display_name"] == "Region"
    assert draft.revision == 3


def test_restoring_a_missing_revision_is_404(alice, draft):
    assert alice.post(url(draft, "revisions/9/restore")).status_code == 404
    assert unchanged(draft)
