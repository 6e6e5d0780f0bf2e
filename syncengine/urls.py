from django.urls import path

from syncengine import views

TEST = "portal/integrations/<int:integration_id>/test/"

urlpatterns = [
    path(TEST, views.test_page, name="integration_test"),
    path(TEST + "panel", views.testing_panel, name="testing_panel"),
    path(TEST + "settings", views.testing_settings_save, name="testing_settings_save"),
    path(TEST + "project", views.testing_project_create, name="testing_project_create"),
    path(TEST + "run", views.testing_run_start, name="testing_run_start"),
    path(TEST + "runs/", views.testing_runs, name="testing_runs"),
    path(TEST + "runs/<int:run_id>/", views.testing_run, name="testing_run"),
    path(
        TEST + "runs/<int:run_id>/exchanges/<int:sequence>",
        views.testing_exchange,
        name="testing_exchange",
    ),
    path(TEST + "users-template.csv", views.testing_csv_template, name="testing_csv_template"),
    path(TEST + "signing-secret", views.testing_signing_secret, name="testing_signing_secret"),
]
