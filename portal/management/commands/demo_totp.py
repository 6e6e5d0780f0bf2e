from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.accounts import totp_code_now
from portal.demo import DEMO_LOGINS
from portal.models import User


class Command(BaseCommand):
    help = "Print the current two-factor code of a demo reviewer or platform admin (DEBUG only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", choices=[email for email, _ in DEMO_LOGINS])

    def handle(self, *args: object, **options: object) -> None:
        if not settings.DEBUG:
            raise CommandError("demo_totp is for the demo data under `make run` (DEBUG=true).")
        user = User.objects.filter(email=options["email"], staff_role__gt="").first()
        if user is None:
            raise CommandError(f"{options['email']} is not a demo reviewer or platform admin.")
        self.stdout.write(totp_code_now(user))
