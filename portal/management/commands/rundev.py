"""`make run`: the web server, a Celery worker, beat and the demo partner, together.

Each runs as its own process (as in production); Ctrl-C stops them all. Without REDIS_URL
the worker and beat share the embedded broker under var/broker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from portal.demo import DEMO_LOGINS, DEMO_PASSWORD, two_factor_help


class Command(BaseCommand):
    help = "Serve the portal with a worker, beat and the demo partner endpoint."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--partner-port", type=int, default=8765)

    def handle(
        self, *args: object, host: str, port: int, partner_port: int, **options: object
    ) -> None:
        if not settings.REDIS_URL:
            for folder in ("queue", "processed", "control"):
                (settings.BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
        python = sys.executable
        celery = [python, "-m", "celery", "-A", "portal"]
        commands = {
            "web": [python, "manage.py", "runserver", f"{host}:{port}", "--noreload"],
            "worker": [
                *celery,
                "worker",
                "--loglevel",
                "INFO",
                "--pool",
                "threads",
                "--concurrency",
                "4",
            ],
            "beat": [
                *celery,
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(settings.VAR_DIR / "celerybeat-schedule"),
            ],
            "partner": [
                python,
                "-m",
                "demo_partner",
                "--host",
                "127.0.0.1",
                "--port",
                str(partner_port),
            ],
        }
        # The demo cohorts churn by themselves (beat schedules it), unless told otherwise.
        environment = {"DEMO_CHURN": "true", **os.environ}
        processes = {
            name: subprocess.Popen(argv, env=environment)  # noqa: S603
            for name, argv in commands.items()
        }
        self._banner(host, port, partner_port)
        stopping = False

        def stop(*_: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for name, process in processes.items():
                    if process.poll() is not None:
                        self.stderr.write(
                            f"{name} exited with status {process.returncode}; stopping the others."
                        )
                        stopping = True
                time.sleep(0.5)
        finally:
            for process in processes.values():
                if process.poll() is None:
                    process.terminate()
            deadline = time.monotonic() + 10
            for process in processes.values():
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()

    def _banner(self, host: str, port: int, partner_port: int) -> None:
        broker = "Redis" if settings.REDIS_URL else "embedded (var/broker)"
        database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        lines = [
            "",
            f"  Cohort Portal      http://{host}:{port}/",
            f"  Demo partner       http://127.0.0.1:{partner_port}/",
            f"  API reference      http://{host}:{port}/api/docs/",
            f"  Database: {database} · broker: {broker}",
            "  Demo cohorts change every few minutes (DEMO_CHURN=false to stop it)",
            "",
            f"  Demo logins (password for all: {DEMO_PASSWORD})",
            *[f"    {email:<22} {role}" for email, role in DEMO_LOGINS],
            two_factor_help(),
            "  Account mails (sign-up verification, password reset) are printed here.",
            "",
            "  Press Ctrl-C to stop.",
            "",
        ]
        self.stdout.write("\n".join(lines))
