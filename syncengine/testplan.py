"""The plan of a test: which steps run, with which users and context, and the checks made
before anything is queued (every request is rendered once, so a missing value is refused
with its field named instead of failing on the worker)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from syncengine.core.compiler import CompiledIntegration, compile_manifest
from syncengine.core.manifest.normalize import ManifestError, normalize_manifest
from syncengine.core.manifest.schema import (
    ADD_USERS,
    BATCH_ENDPOINTS,
    CREATE_LIST,
    REMOVE_USERS,
    UPDATE_USERS,
)
from syncengine.core.manifest.variables import collect_auth_references, collect_declarations
from syncengine.core.masking import mask_text
from syncengine.core.retry import RetryPolicy
from syncengine.core.template.errors import RenderError
from syncengine.core.types import RenderContext
from syncengine.models import (
    PENDING,
    TestKind,
)
from syncengine.outbound import retry_policy
from syncengine.testusers import TestUsers

DEFAULT_COHORT_NAME = "Cohort Portal test"
# Stand-ins used only by `check_plan`, which renders requests without sending them.
CHECK_LIST_ID = "list-id-for-checking"
CHECK_BATCH_ID = "batch-id-for-checking"
CHECK_PARTNER_ID = "partner-id-for-checking"


class TestSetupError(Exception):
    """A test that cannot start: its configuration or inputs are unusable."""


@dataclass(frozen=True, slots=True)
class StepPlan:
    """One step of a test: an endpoint, the users it sends and how many requests that is."""

    key: str
    endpoint: str
    label: str
    users: int = 0
    batches: int = 0
    in_cohort: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "endpoint": self.endpoint,
            "label": self.label,
            "users": self.users,
            "batches": self.batches,
            "status": PENDING,
            "requests": 0,
            "batches_done": 0,
            "users_done": 0,
            "users_skipped": 0,
            "skip_reasons": {},
            "note": "",
        }


@dataclass(frozen=True)
class TestPlan:
    """Everything a test needs: what to call, with which values, for which users."""

    integration: CompiledIntegration
    kind: str
    context: RenderContext
    users: TestUsers
    scope: str
    policy: RetryPolicy
    signing_secret: str | None = None
    steps: tuple[StepPlan, ...] = ()

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret of this test, for masking anything shown or stored."""
        extra = (self.signing_secret,) if self.signing_secret else ()
        return self.integration.secret_values(self.context) + extra


def steps_for(
    integration: CompiledIntegration, kind: str, users: TestUsers
) -> tuple[StepPlan, ...]:
    """The steps of a test of `kind`, with their user and request counts."""

    def batches(endpoint: str, count: int) -> int:
        return math.ceil(count / integration.batch_size(endpoint)) if count else 0

    adding, removing = len(users.to_add), len(users.to_remove)
    if integration.integration_type == "property":
        if kind not in (TestKind.FULL, TestKind.UPDATE_USERS):
            raise TestSetupError(f"a property-based integration has no {kind} step")
        return (
            StepPlan(
                "update_users:enter",
                UPDATE_USERS,
                "update_users ($in_cohort true)",
                adding,
                batches(UPDATE_USERS, adding),
                True,
            ),
            StepPlan(
                "update_users:leave",
                UPDATE_USERS,
                "update_users ($in_cohort false)",
                removing,
                batches(UPDATE_USERS, removing),
                False,
            ),
        )
    create = StepPlan(CREATE_LIST, CREATE_LIST, "create_list", batches=1)
    add = StepPlan(ADD_USERS, ADD_USERS, "add_users", adding, batches(ADD_USERS, adding))
    remove = StepPlan(
        REMOVE_USERS, REMOVE_USERS, "remove_users", removing, batches(REMOVE_USERS, removing)
    )
    by_kind: dict[str, tuple[StepPlan, ...]] = {
        TestKind.FULL: (create, add, remove),
        TestKind.CREATE_LIST: (create,),
        TestKind.ADD_USERS: (add,),
        TestKind.REMOVE_USERS: (remove,),
    }
    chosen = by_kind.get(kind)
    if chosen is None:
        raise TestSetupError(f"a list-based integration has no {kind} step")
    return chosen


def secret_variables(manifest: Mapping[str, Any]) -> set[str]:
    """Variables whose values are secrets: fields marked secret and whatever auth reads."""
    marked = {d.variable for d in collect_declarations(manifest) if d.secret}
    return marked | {use.variable for use in collect_auth_references(manifest)}


def build_plan(
    manifest: Mapping[str, Any],
    *,
    kind: str,
    values: Mapping[str, Any],
    mapping: Mapping[str, str],
    users: TestUsers,
    scope: str,
    cohort_id: str,
    cohort_name: str,
    list_id: str | None = None,
    no_retries: bool = False,
    signing_secret: str | None = None,
) -> TestPlan:
    """Compile the manifest and assemble a plan; `TestSetupError` says why it cannot run."""
    try:
        integration = compile_manifest(normalize_manifest(dict(manifest)))
    except ManifestError as error:
        first = error.diagnostics[0]
        raise TestSetupError(
            f"the configuration has {len(error.diagnostics)} error(s), first "
            f"{first.path or '(manifest)'}: {first.message}"
        ) from None
    if integration.delivery.get("sign_requests") and not signing_secret:
        raise TestSetupError(
            "this integration signs its requests (delivery.sign_requests) but has no "
            "signing secret yet"
        )
    context = RenderContext(
        values=dict(values),
        mapping=dict(users.mapping if users.mapping is not None else mapping),
        cohort_id=users.cohort_id or cohort_id,
        cohort_name=users.cohort_name or cohort_name,
        list_id=list_id or None,
    )
    return TestPlan(
        integration=integration,
        kind=kind,
        context=context,
        users=users,
        scope=scope,
        policy=retry_policy(no_retries),
        signing_secret=signing_secret,
        steps=steps_for(integration, kind, users),
    )


def check_plan(plan: TestPlan) -> None:
    """Build each step's first request once (and its lookup's, create's and find's), so
    that a value that cannot be rendered (a required field left empty, a missing mapping
    choice) is reported before any call. A user the request would skip does not count."""
    integration = plan.integration
    for step in plan.steps:
        leaving = step.endpoint == REMOVE_USERS or step.in_cohort is False
        users = plan.users.to_remove if leaving else plan.users.to_add
        context = plan.context
        if step.endpoint != CREATE_LIST and not context.list_id:
            context = replace(context, list_id=CHECK_LIST_ID)
        for name in integration.request_names:
            if name.split(".")[0] != step.endpoint:
                continue
            try:
                sample: list[Any] = []
                if step.endpoint in BATCH_ENDPOINTS:
                    candidates = list(itertools.islice(users.values(), 1))
                    skipped = integration.screen_users(name, candidates, context)
                    sample = [u for i, u in enumerate(candidates) if i not in skipped]
                main_with_lookup = name == step.endpoint and integration.lookup_of(name)
                integration.build_request(
                    name,
                    context=context,
                    users=sample,
                    in_cohort=step.in_cohort if step.endpoint == UPDATE_USERS else None,
                    batch_id=CHECK_BATCH_ID if step.endpoint in BATCH_ENDPOINTS else None,
                    partner_ids=[CHECK_PARTNER_ID] * len(sample) if main_with_lookup else None,
                )
            except (RenderError, ValueError) as error:
                message = getattr(error, "message", None) or str(error)
                path = getattr(error, "path", "")
                where = f" ({path})" if path else ""
                raise TestSetupError(
                    mask_text(f"the {name} request cannot be built: {message}{where}", plan.secrets)
                ) from None
