from django.apps import AppConfig


class SyncsConfig(AppConfig):
    name = "syncs"
    verbose_name = "Cohort syncs"

    def ready(self) -> None:
        from integrations.signals import destination_version_changed
        from syncs import receivers

        destination_version_changed.connect(
            receivers.destination_version_changed, dispatch_uid="syncs.follow_version"
        )
