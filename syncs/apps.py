from django.apps import AppConfig
from django.conf import settings


class SyncsConfig(AppConfig):
    name = "syncs"
    verbose_name = "Cohort syncs"

    def ready(self) -> None:
        # The scheduler and housekeeping of cohort syncs run from beat (portal/settings.py
        # keeps the ground floor's own entries; each app adds its own).
        settings.CELERY_BEAT_SCHEDULE.setdefault(
            "syncs-dispatch-due",
            {"task": "syncs.dispatch_due", "schedule": settings.SYNC_DISPATCH_SECONDS},
        )
        settings.CELERY_BEAT_SCHEDULE.setdefault(
            "syncs-housekeeping", {"task": "syncs.housekeeping", "schedule": 3600.0}
        )
        from integrations.signals import destination_version_changed
        from syncs import receivers

        destination_version_changed.connect(
            receivers.destination_version_changed, dispatch_uid="syncs.follow_version"
        )
