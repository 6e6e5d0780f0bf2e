from django.urls import path

from integrations import catalogue_views, views

DRAFT = "portal/integrations/<int:integration_id>/"

urlpatterns = [
    path("portal/", views.portal_home, name="portal_home"),
    path("portal/new", views.integration_new, name="integration_new"),
    path("portal/new/check-name", views.name_check, name="integration_name_check"),
    path("portal/new/check-logo", views.logo_check, name="integration_logo_check"),
    path("portal/import", views.integration_import, name="integration_import"),
    path(DRAFT, views.integration_open, name="integration_open"),
    # Part 1 — the tile
    path(DRAFT + "tile", views.integration_tile, name="integration_tile"),
    path(DRAFT + "check-name", views.name_check, name="integration_rename_check"),
    path(DRAFT + "logo", views.integration_logo, name="integration_logo"),
    # Part 2 — the configuration editor and its live calls
    path(DRAFT + "configure", views.integration_editor, name="integration_editor"),
    path(DRAFT + "preview", views.editor_preview, name="integration_preview"),
    path(DRAFT + "save", views.editor_save, name="integration_save"),
    path(DRAFT + "auth-method", views.editor_auth_switch, name="integration_auth_switch"),
    path(DRAFT + "copy-errors", views.editor_copy_errors, name="integration_copy_errors"),
    # the manifest, copies, deletion, history
    path(DRAFT + "manifest.json", views.manifest_download, name="integration_manifest"),
    path(DRAFT + "import", views.manifest_upload, name="integration_manifest_import"),
    path(DRAFT + "duplicate", views.integration_duplicate, name="integration_duplicate"),
    path(DRAFT + "delete", views.integration_delete, name="integration_delete"),
    path(DRAFT + "history", views.integration_history, name="integration_history"),
    path(
        DRAFT + "revisions/<int:number>/restore",
        views.revision_restore,
        name="integration_revision_restore",
    ),
    # release internally (submitting is on the review side)
    path(
        DRAFT + "release",
        catalogue_views.integration_release_post,
        name="integration_release_post",
    ),
    # the Destinations catalog
    path("destinations/", catalogue_views.destinations_page, name="destinations"),
    path(
        "platform/destinations/",
        catalogue_views.platform_destinations,
        name="platform_destinations",
    ),
    path(
        "platform/destinations/<int:destination_id>/rollback",
        catalogue_views.platform_destination_rollback,
        name="platform_destination_rollback",
    ),
]
