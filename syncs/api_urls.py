from django.urls import path

from syncs.api import views

urlpatterns = [
    path("connections/", views.ConnectionListView.as_view(), name="api_connections"),
    path(
        "connections/<int:connection_id>",
        views.ConnectionDetailView.as_view(),
        name="api_connection",
    ),
    path(
        "connections/<int:connection_id>/syncs",
        views.ConnectionSyncsView.as_view(),
        name="api_connection_syncs",
    ),
    path("syncs/", views.SyncListView.as_view(), name="api_syncs"),
    path("syncs/<int:sync_id>", views.SyncDetailView.as_view(), name="api_sync"),
    path("syncs/<int:sync_id>/pause", views.SyncPauseView.as_view(), name="api_sync_pause"),
    path("syncs/<int:sync_id>/resume", views.SyncResumeView.as_view(), name="api_sync_resume"),
    path("syncs/<int:sync_id>/sync-now", views.SyncNowView.as_view(), name="api_sync_now"),
    path("syncs/<int:sync_id>/retry-failed", views.SyncRetryView.as_view(), name="api_sync_retry"),
    path(
        "syncs/<int:sync_id>/full-resync",
        views.SyncFullResyncView.as_view(),
        name="api_sync_full_resync",
    ),
    path("syncs/<int:sync_id>/runs", views.SyncRunListView.as_view(), name="api_sync_runs"),
    path("sync-runs/<int:sync_run_id>", views.SyncRunDetailView.as_view(), name="api_sync_run"),
    path(
        "sync-runs/<int:sync_run_id>/batches",
        views.SyncRunBatchesView.as_view(),
        name="api_sync_run_batches",
    ),
    path(
        "sync-runs/<int:sync_run_id>/exchanges",
        views.SyncRunExchangesView.as_view(),
        name="api_sync_run_exchanges",
    ),
]
