from django.urls import path

from syncs.views import connections, run_pages, sync_pages

CONNECTION = "connections/<int:connection_id>/"
SYNC = "syncs/<int:sync_id>/"
RUN = SYNC + "runs/<int:sync_run_id>/"

urlpatterns = [
    # connecting a destination of the catalogue
    path(
        "destinations/<int:destination_id>/connect",
        connections.connection_new,
        name="connection_new",
    ),
    # connections
    path("connections/", connections.connection_list, name="connection_list"),
    path(CONNECTION, connections.connection_detail, name="connection_detail"),
    path(CONNECTION + "edit", connections.connection_edit, name="connection_edit"),
    path(CONNECTION + "delete", connections.connection_delete, name="connection_delete"),
    path(CONNECTION + "syncs/new", connections.sync_new, name="sync_new"),
    # a cohort sync
    path(SYNC, sync_pages.sync_detail, name="sync_detail"),
    path(SYNC + "progress", sync_pages.sync_progress, name="sync_progress"),
    path(SYNC + "run", sync_pages.sync_run_now, name="sync_run_now"),
    path(SYNC + "retry", sync_pages.sync_retry, name="sync_retry"),
    path(SYNC + "resync", sync_pages.sync_resync, name="sync_resync"),
    path(SYNC + "pause", sync_pages.sync_pause, name="sync_pause"),
    path(SYNC + "resume", sync_pages.sync_resume, name="sync_resume"),
    path(SYNC + "schedule", sync_pages.sync_schedule, name="sync_schedule"),
    path(SYNC + "delete", sync_pages.sync_delete, name="sync_delete"),
    # the delivery log of a run
    path(RUN, run_pages.run_detail, name="sync_run"),
    path(RUN + "batches/<int:sequence>/", run_pages.run_batch, name="sync_run_batch"),
    path(RUN + "exchanges/<int:sequence>", run_pages.run_exchange, name="sync_run_exchange"),
]
