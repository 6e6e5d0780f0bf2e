"""Test runs against a partner's real endpoint, and what they need and record.

- `TestSettings`: one per integration, what the Testing panel remembers between runs (the
  project, the Connect-modal values with their secrets encrypted, the mapping choices, the
  test users and the list id kept from a create_list step).
- `SigningSecret`: the integration's HMAC key for `delivery.sign_requests` (encrypted).
- `TestRun`: one run (a full test or one endpoint), the manifest it tested and that
  manifest's fingerprint (a later edit makes the run stale), its inputs and its outcome.
- `TestExchange`: every attempt of every request of a run, secrets masked, bodies cut for
  display, with the plain-language diagnosis of a failure.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from integrations.models import Integration
from portal.crypto import EncryptedJSONField, EncryptedTextField, mask_secret
from portal.jobs import Job
from portal.models import Cohort, Project
from syncengine.core.signing import RotatingSecret

DEFAULT_TEST_USERS = 25

# The state of one step of a run, as the page shows it.
PENDING, RUNNING, PASSED, FAILED, SKIPPED = "pending", "running", "passed", "failed", "skipped"

# The outcome of an exchange written before its request was sent, until its attempt ends;
# one still in flight when its run is closed had no answer the worker saw.
EXCHANGE_IN_FLIGHT = "in_flight"
EXCHANGE_NO_ANSWER = "no_answer"
NO_ANSWER_SUMMARY = (
    "no answer recorded: the worker stopped while this request was in flight, so the "
    "partner may or may not have received it"
)


class UsersSource(models.TextChoices):
    GENERATED = "generated", "Generated users"
    COHORT = "cohort", "Sampled from a cohort"
    CSV = "csv", "CSV upload"


class TestKind(models.TextChoices):
    __test__ = False

    FULL = "full", "Full test"
    CREATE_LIST = "create_list", "create_list"
    ADD_USERS = "add_users", "add_users"
    REMOVE_USERS = "remove_users", "remove_users"
    UPDATE_USERS = "update_users", "update_users"


class TestStatus(models.TextChoices):
    __test__ = False

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    ERROR = "error", "Error"


FINISHED_STATUSES = frozenset({TestStatus.PASSED, TestStatus.FAILED, TestStatus.ERROR})


class TestSettings(models.Model):
    """The Testing panel's inputs for one integration, kept between runs.

    `values` holds the Connect-modal values by variable, secrets included, encrypted as a
    whole; they are shown masked and never leave the database except inside a worker.
    `csv_rows` holds an uploaded CSV of test users, already validated.
    """

    __test__ = False  # a model, not a pytest test class

    integration = models.OneToOneField(
        Integration, on_delete=models.CASCADE, related_name="test_settings"
    )
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept (encrypted) so that every run can check it still matches: regenerating the
    # project's key invalidates the test settings, as it would a real connection.
    project_api_key = EncryptedTextField(blank=True, default="")
    values = EncryptedJSONField(default=dict, blank=True)
    mapping = models.JSONField(default=dict, blank=True)
    users_source = models.CharField(
        max_length=10, choices=UsersSource.choices, default=UsersSource.GENERATED
    )
    users_count = models.PositiveIntegerField(default=DEFAULT_TEST_USERS)
    cohort = models.ForeignKey(
        Cohort, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    csv_name = models.CharField(max_length=255, blank=True)
    csv_rows = models.JSONField(default=list, blank=True)
    share_with_reviewers = models.BooleanField(default=False)
    # The list id from the last create_list (or full) test, for add/remove tests.
    list_id = models.CharField(max_length=200, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "test settings"

    def __str__(self) -> str:
        return f"test settings of {self.integration_id}"

    @property
    def api_key_masked(self) -> str:
        return mask_secret(self.project_api_key)


class SigningSecret(models.Model):
    """The key of the X-Signature header for an integration that signs its requests."""

    integration = models.OneToOneField(
        Integration, on_delete=models.CASCADE, related_name="signing_secret"
    )
    secret = EncryptedTextField()
    # After a rotation, the secret it replaced keeps signing too until `previous_until`, so
    # that the partner has time to switch (the docs promise both signatures meanwhile).
    previous_secret = EncryptedTextField(blank=True, default="")
    previous_until = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"signing secret of {self.integration_id}"

    @property
    def rotating(self) -> bool:
        return bool(
            self.previous_secret and self.previous_until and timezone.now() < self.previous_until
        )

    def signing_key(self) -> str:
        """What requests are signed with: the secret, carrying the previous one while a
        rotation lasts (`syncengine.core.signing.RotatingSecret`)."""
        if self.rotating:
            return RotatingSecret(self.secret, self.previous_secret)
        return self.secret

    @property
    def masked(self) -> str:
        return mask_secret(self.secret)


class TestRun(Job):
    """One test of an integration against the partner's endpoint, run by a worker.

    `manifest` is the configuration tested (without the logo) and `fingerprint` the
    `config_fingerprint` of the whole manifest: submitting needs a passed full run whose
    fingerprint is the draft's current one. `version_id` is set for reviewers' re-runs of
    a submitted version. `values` (encrypted), `mapping` and `users` are the inputs, copied
    at start so that the run records exactly what it tested.
    """

    __test__ = False
    FINISHED_STATUSES = FINISHED_STATUSES

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="test_runs")
    version_id = models.BigIntegerField(null=True, blank=True)
    manifest = models.JSONField()
    fingerprint = models.CharField(max_length=32, db_index=True)
    kind = models.CharField(max_length=20, choices=TestKind.choices)
    status = models.CharField(max_length=10, choices=TestStatus.choices, default=TestStatus.QUEUED)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    no_retries = models.BooleanField(default=False)
    # The inputs came from the integration's TestSettings (the partner's own panel), so a
    # list created by this run is kept there for later add/remove tests.
    from_test_settings = models.BooleanField(default=True)
    values = EncryptedJSONField(default=dict, blank=True)
    mapping = models.JSONField(default=dict, blank=True)
    users = models.JSONField(default=dict, blank=True)
    cohort_id = models.CharField(max_length=200, blank=True)
    cohort_name = models.CharField(max_length=200, blank=True)
    list_id = models.CharField(max_length=200, blank=True)
    users_to_add = models.PositiveIntegerField(default=0)
    users_to_remove = models.PositiveIntegerField(default=0)
    delivered = models.JSONField(default=dict, blank=True)
    steps = models.JSONField(default=list, blank=True)
    exchange_count = models.PositiveIntegerField(default=0)
    summary = models.TextField(blank=True)
    diagnosis = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["integration", "kind", "status"])]

    def __str__(self) -> str:
        return f"test run {self.pk} ({self.kind}, {self.status})"

    def close_unsent(self) -> bool:
        return TestRun.finish(
            self.pk,
            None,
            status=TestStatus.ERROR,
            summary="The task queue could not be reached, so this test never started and "
            "nothing was sent. Run it again.",
            diagnosis=None,
            steps=[{**entry, "status": SKIPPED} for entry in self.steps],
        )

    @classmethod
    def close_in_flight_exchanges(cls, pk: int) -> int:
        """Requests written down but never seen answered (the worker stopped, or the send
        itself crashed) read *no answer*: the partner may have received them, and they are
        never shown as acknowledged."""
        return TestExchange.objects.filter(run_id=pk, outcome=EXCHANGE_IN_FLIGHT).update(
            outcome=EXCHANGE_NO_ANSWER, summary=NO_ANSWER_SUMMARY
        )

    def on_lease_lapsed(self, *, worker_lost: bool) -> bool:
        message = (
            "No worker picked this test up."
            if self.status == TestStatus.QUEUED
            else "The worker running this test stopped before it finished."
        )
        # Steps that never finished did not fail on their own: the run stopped under them.
        steps = [
            {**entry, "status": SKIPPED} if entry.get("status") in (PENDING, RUNNING) else entry
            for entry in self.steps
        ]
        with transaction.atomic():  # closed with its exchanges, never seen without them
            closed = TestRun.finish(
                self.pk,
                None,
                status=TestStatus.ERROR,
                summary=f"{message} Run it again.",
                diagnosis=None,
                steps=steps,
                exchange_count=self.exchanges.count(),
            )
            if closed:
                TestRun.close_in_flight_exchanges(self.pk)
        return closed


class RecordedExchange(models.Model):
    """Abstract: one attempt of one request, as the inspector shows it (test runs, sync
    runs). Everything here is masked: secrets never reach these tables. Bodies are cut at
    `syncengine.recording.STORED_BODY_CHARS` (`*_truncated` says so)."""

    batch_id = models.CharField(max_length=64, blank=True)
    attempt = models.PositiveSmallIntegerField()
    max_attempts = models.PositiveSmallIntegerField()
    outcome = models.CharField(max_length=10)
    summary = models.CharField(max_length=300, blank=True)
    item_count = models.PositiveIntegerField(default=0)
    request_method = models.CharField(max_length=10)
    request_url = models.TextField()
    request_headers = models.JSONField(default=list)
    request_body = models.TextField(blank=True)
    request_body_bytes = models.PositiveIntegerField(default=0)
    request_body_truncated = models.BooleanField(default=False)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_reason = models.CharField(max_length=200, blank=True)
    response_headers = models.JSONField(default=list)
    response_body = models.TextField(blank=True)
    response_body_truncated = models.BooleanField(default=False)
    latency_ms = models.FloatField(null=True, blank=True)
    remote_address = models.CharField(max_length=64, blank=True)
    error_kind = models.CharField(max_length=30, blank=True)
    diagnosis = models.JSONField(null=True, blank=True)
    wait_seconds = models.FloatField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True

    @property
    def ok(self) -> bool:
        return self.outcome in {"success", "ignored"}


class TestExchange(RecordedExchange):
    """One attempt of one request of a test run."""

    __test__ = False

    run = models.ForeignKey(TestRun, on_delete=models.CASCADE, related_name="exchanges")
    sequence = models.PositiveIntegerField()
    step = models.CharField(max_length=20)

    class Meta:
        ordering = ["sequence"]
        constraints = [
            models.UniqueConstraint(fields=["run", "sequence"], name="one_exchange_per_sequence")
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} #{self.sequence} {self.step}"
