from django.core.management.base import BaseCommand

from portal.demo import DEMO_LOGINS, DEMO_PASSWORD, load_demo_data


class Command(BaseCommand):
    help = "Load the demo organisations, people, project and cohorts (idempotent)."

    def handle(self, *args: object, **options: object) -> None:
        data = load_demo_data()
        project = data.built["project"]
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        for email, role in DEMO_LOGINS:
            self.stdout.write(f"  {email:<22} {DEMO_PASSWORD}   {role}")
        self.stdout.write(f"  Demo project: {project.name}, Project ID {project.public_id}")
