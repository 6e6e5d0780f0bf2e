from django.urls import path

from integrations.views import catalogue, drafts, editor_page, history, home, start, tile

DRAFT = "portal/integrations/<int:integration_id>/"

urlpatterns = [
    path("portal/", home.portal_home, name="portal_home"),
    path("portal/new", tile.integration_new, name="integration_new"),
    path("portal/new/check-name", tile.name_check, name="integration_name_check"),
    path("portal/new/check-logo", tile.logo_check, name="integration_logo_check"),
    path("portal/import", drafts.integration_import, name="integration_import"),
    path(DRAFT, editor_page.integration_open, name="integration_open"),
    # Part 1 — the tile
    path(DRAFT + "tile", tile.integration_tile, name="integration_tile"),
    path(DRAFT + "check-name", tile.name_check, name="integration_rename_check"),
    path(DRAFT + "logo", tile.integration_logo, name="integration_logo"),
    # Part 2 — where the configuration starts, the editor and its live calls
    path(DRAFT + "start", start.integration_start, name="integration_start"),
    path(DRAFT + "configure", editor_page.integration_editor, name="integration_editor"),
    path(DRAFT + "preview", editor_page.editor_preview, name="integration_preview"),
    path(DRAFT + "save", editor_page.editor_save, name="integration_save"),
    path(DRAFT + "auth-method", editor_page.editor_auth_switch, name="integration_auth_switch"),
    path(DRAFT + "copy-errors", editor_page.editor_copy_errors, name="integration_copy_errors"),
    path(DRAFT + "part", editor_page.editor_part, name="integration_editor_part"),
    # the manifest, copies, deletion, history
    path(DRAFT + "manifest.json", drafts.manifest_download, name="integration_manifest"),
    path(DRAFT + "import", drafts.manifest_upload, name="integration_manifest_import"),
    path(DRAFT + "duplicate", drafts.integration_duplicate, name="integration_duplicate"),
    path(DRAFT + "delete", drafts.integration_delete, name="integration_delete"),
    path(DRAFT + "history", history.integration_history, name="integration_history"),
    path(
        DRAFT + "revisions/<int:number>/restore",
        history.revision_restore,
        name="integration_revision_restore",
    ),
    # release internally (submitting is on the review side)
    path(
        DRAFT + "release",
        catalogue.integration_release_post,
        name="integration_release_post",
    ),
    # the Destinations catalog
    path("destinations/", catalogue.destinations_page, name="destinations"),
    path(
        "destinations/<int:destination_id>/logo",
        catalogue.destination_logo,
        name="destination_logo",
    ),
    path(
        "platform/destinations/",
        catalogue.platform_destinations,
        name="platform_destinations",
    ),
    path(
        "platform/destinations/<int:destination_id>/rollback",
        catalogue.platform_destination_rollback,
        name="platform_destination_rollback",
    ),
    path(
        "platform/destinations/<int:destination_id>/visibility",
        catalogue.platform_destination_visibility,
        name="platform_destination_visibility",
    ),
]
