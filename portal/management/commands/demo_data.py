from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal.demo import DEMO_LOGINS, DEMO_PASSWORD, load_demo_data, two_factor_help


class Command(BaseCommand):
    help = "Load the demo organisations, people, project and cohorts (idempotent)."

    def handle(self, *args: object, **options: object) -> None:
        if not settings.DEBUG:
            # Its people have public passwords and a public two-factor key.
            raise CommandError("demo_data is for `make run` (DEBUG=true), not production.")
        # The demo drafts point at the demo partner `make run` serves (DEMO_PARTNER_URL,
        # http://127.0.0.1:8765 unless set; never empty with DEBUG on).
        data = load_demo_data(partner_url=settings.DEMO_PARTNER_URL)
        project = data.built["project"]
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        for email, role in DEMO_LOGINS:
            self.stdout.write(f"  {email:<22} {DEMO_PASSWORD}   {role}")
        self.stdout.write(two_factor_help())
        self.stdout.write(f"  Demo project: {project.name}, Project ID {project.public_id}")
