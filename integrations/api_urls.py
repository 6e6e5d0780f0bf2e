from django.urls import path

from integrations.api import catalogue_views, views

urlpatterns = [
    path("integrations/", views.IntegrationListView.as_view(), name="api_integrations"),
    path(
        "integrations/import", views.IntegrationImportView.as_view(), name="api_integration_import"
    ),
    path(
        "integrations/<int:integration_id>/",
        views.IntegrationDetailView.as_view(),
        name="api_integration",
    ),
    path(
        "integrations/<int:integration_id>/manifest",
        views.ManifestView.as_view(),
        name="api_integration_manifest",
    ),
    path(
        "integrations/<int:integration_id>/validate",
        views.ValidateView.as_view(),
        name="api_integration_validate",
    ),
    path(
        "integrations/<int:integration_id>/preview",
        views.PreviewView.as_view(),
        name="api_integration_preview",
    ),
    path(
        "integrations/<int:integration_id>/logo",
        views.LogoView.as_view(),
        name="api_integration_logo",
    ),
    path(
        "integrations/<int:integration_id>/duplicate",
        views.DuplicateView.as_view(),
        name="api_integration_duplicate",
    ),
    path(
        "integrations/<int:integration_id>/copy-errors",
        views.CopyErrorsView.as_view(),
        name="api_integration_copy_errors",
    ),
    path(
        "integrations/<int:integration_id>/revisions/",
        views.RevisionListView.as_view(),
        name="api_integration_revisions",
    ),
    path(
        "integrations/<int:integration_id>/revisions/<int:number>/manifest",
        views.RevisionManifestView.as_view(),
        name="api_integration_revision_manifest",
    ),
    path(
        "integrations/<int:integration_id>/revisions/<int:number>/restore",
        views.RevisionRestoreView.as_view(),
        name="api_integration_revision_restore",
    ),
    path(
        "integrations/<int:integration_id>/diff",
        views.DiffView.as_view(),
        name="api_integration_diff",
    ),
    path(
        "integrations/<int:integration_id>/release",
        catalogue_views.ReleaseView.as_view(),
        name="api_integration_release",
    ),
    path(
        "integrations/<int:integration_id>/versions/",
        catalogue_views.IntegrationVersionsView.as_view(),
        name="api_integration_versions",
    ),
    path(
        "reviews/<int:version_id>/logo",
        catalogue_views.VersionLogoView.as_view(),
        name="api_version_logo",
    ),
    path("destinations/", catalogue_views.DestinationListView.as_view(), name="api_destinations"),
    path(
        "destinations/<int:destination_id>/rollback",
        catalogue_views.DestinationRollbackView.as_view(),
        name="api_destination_rollback",
    ),
]
