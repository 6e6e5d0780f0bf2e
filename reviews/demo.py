"""Demo data of the review side: the demo list draft tested against the demo partner,
submitted by alice and approved by rita, so that every organisation's Destinations
catalogue has a destination to connect from the first minute (a step of `portal.demo`).

The test is a real one. `make run` loads the demo data before it starts the demo partner,
so when nothing answers at the partner's address yet, the step serves a demo partner there
for the few requests of the test and stops it again.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

from demo_partner import DemoPartner
from integrations.models import DestinationChannel, Integration
from portal.demo import DemoData, demo_step
from portal.models import User
from reviews import decisions, submissions
from syncengine import actions as testing_actions
from syncengine import testruns
from syncengine.demo import DEMO_LIST_DRAFT

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 1.0


@contextlib.contextmanager
def partner_answering(url: str) -> Iterator[None]:
    """Make sure something answers at the loopback `url`: a demo partner of our own for
    the duration, if nothing listens there yet."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_SECONDS):
            listening = True
    except OSError:
        listening = False
    if listening:
        yield
        return
    with DemoPartner(host, port):
        yield


@demo_step
def demo_approval(data: DemoData) -> None:
    """The demo list draft approved, unless it is approved already."""
    draft = Integration.objects.filter(display_name__iexact=DEMO_LIST_DRAFT).first()
    if draft is None or draft.destinations.filter(channel=DestinationChannel.APPROVED).exists():
        return
    alice = data.built["alice"]
    rita = User.objects.get(email="rita@platform.test")
    try:
        with partner_answering(data.partner_url):
            started = testing_actions.test_run_start(
                acting_user=alice, integration=draft, enqueue=False
            )
            run = testruns.execute_test_run(started.pk)
    except OSError as error:
        logger.warning("demo data: no demo partner at %s (%s)", data.partner_url, error)
        return
    if run is None or run.status != "passed":
        logger.warning("demo data: the demo draft's test did not pass: %r", run and run.summary)
        return
    version = submissions.integration_submit(
        acting_user=alice, integration=draft, note="Our demo list API, ready for everyone."
    )
    decisions.review_approve(
        acting_user=rita, version=version, message="Tested against the demo partner: approved."
    )
