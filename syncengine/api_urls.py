from django.urls import path

from syncengine.api import views

urlpatterns = [
    path(
        "integrations/<int:integration_id>/test-settings",
        views.TestSettingsView.as_view(),
        name="api_test_settings",
    ),
    path(
        "integrations/<int:integration_id>/test-runs",
        views.TestRunListView.as_view(),
        name="api_test_runs",
    ),
    path(
        "integrations/<int:integration_id>/signing-secret",
        views.SigningSecretView.as_view(),
        name="api_signing_secret",
    ),
    path("test-runs/<int:run_id>", views.TestRunDetailView.as_view(), name="api_test_run"),
    path(
        "test-runs/<int:run_id>/exchanges",
        views.TestRunExchangesView.as_view(),
        name="api_test_run_exchanges",
    ),
]
