"""The list/property sync protocol (DESIGN section 6), pure and callback-driven.

The caller (the Django side) computes what to send from its stored delivered state,
runs the protocol, and stores what the callbacks report:

    to_add, to_remove = diff_members(current.keys(), delivered.keys())
    result = run_sync(
        integration, client, context=context, scope=f"{connection_id}:{cohort_id}:{run_id}",
        to_add={k: current[k] for k in to_add}, to_remove={k: delivered[k] for k in to_remove},
        on_list_id=store_list_id, on_attempt=store_attempt, on_batch_delivered=mark_delivered,
    )

List-based: without a list id yet, create_list is called once and the id read at
`list_id_path` is reported through `on_list_id` before anything else; then add and remove
batches of at most `batch_size` users go out, up to `delivery.max_concurrency` (at most 4)
at a time, no faster than `delivery.requests_per_second`. Property-based: update_users
with `$in_cohort` true for entering users, then false for leaving ones.

Each batch is delivered by `delivery.deliver_batch` (the same function production syncs
call for their planned batches): its lookup, create and per-user requests included.

`on_batch_delivered(endpoint, user_keys)` is called only after a 2xx (or an error the
endpoint classifies `ignore`), with the keys the partner acknowledged, so delivered state
moves forward only with successful requests. `on_users_skipped(endpoint, skipped)` reports
users a batch did not send, with the reason (a missing value, a lookup that did not find
them). The first batch that fails for good (a permanent error, or a retryable one out
of attempts) stops the run: no new batch starts, batches waiting to retry are abandoned,
and the error comes back in the result with its diagnosis. Its users, like those of
every batch not delivered, stay in the next difference.

All callbacks run on the calling thread, in order, even though requests go out on worker
threads: the caller can write to its database without sharing connections across threads.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol, overload, runtime_checkable

from syncengine.core.compiler import CompiledIntegration
from syncengine.core.delivery import (
    BATCH_ID_HEX_CHARS,
    BatchOutcome,
    batch_id_for,
    deliver_batch,
    ensure_list,
    render_failure,
)
from syncengine.core.errors import AttemptRecord, Diagnosis, PartnerError, PartnerResponse
from syncengine.core.http import OutboundClient
from syncengine.core.manifest.schema import (
    ADD_USERS,
    CREATE_LIST,
    MAX_CONCURRENCY,
    REMOVE_USERS,
    UPDATE_USERS,
)
from syncengine.core.responses import read_list_id
from syncengine.core.retry import RetryPolicy
from syncengine.core.types import RenderContext, SkippedUser, User

__all__ = [
    "BATCH_ID_HEX_CHARS",
    "Batch",
    "BatchFailure",
    "SyncResult",
    "batch_id_for",
    "batches",
    "diff_members",
    "plan_batches",
    "read_list_id",
    "run_sync",
    "users_by_key",
]

logger = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = MAX_CONCURRENCY
# How long the calling thread waits for worker events before checking on the workers.
EVENT_POLL_SECONDS = 0.05
# While batches are sent, the interpreter hands the GIL between threads at least this often
# (Python's default is 5 ms). The workers mostly wait on the network and the calling thread
# records what they report in short bursts: a worker whose answer arrived should not wait
# out a whole default interval for its turn. Measured: 12-22 % shorter runs of small batches.
SWITCH_INTERVAL_SECONDS = 0.0005

Step = Literal["create_list", "add_users", "remove_users", "update_users"]
STEPS: tuple[str, ...] = (CREATE_LIST, ADD_USERS, REMOVE_USERS, UPDATE_USERS)

# --- pure helpers ---------------------------------------------------------------------


def diff_members(
    current_keys: Iterable[str], delivered_keys: Iterable[str]
) -> tuple[list[str], list[str]]:
    """(keys to add, keys to remove), each sorted so that batches are deterministic."""
    current = set(current_keys)
    delivered = set(delivered_keys)
    return sorted(current - delivered), sorted(delivered - current)


def batches[T](items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most `size` items (none for an empty sequence)."""
    if size < 1:
        raise ValueError("a batch size must be at least 1")
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True, slots=True)
class Batch:
    """One request's worth of users: what to render and what to report once delivered."""

    endpoint: str
    keys: tuple[str, ...]
    users: tuple[User, ...]
    in_cohort: bool | None
    batch_id: str


@runtime_checkable
class UsersInKeyOrder(Protocol):
    """Users already in key order that make themselves a run at a time (generated test
    users, `users.GeneratedUsers`): `plan_batches` cuts them without reading them, and
    each batch's users are made when the batch is taken to be sent."""

    def __len__(self) -> int: ...

    def keys_between(self, start: int, stop: int) -> Sequence[str]: ...

    def between(self, start: int, stop: int) -> Sequence[User]: ...


def plan_batches(
    endpoint: str,
    users_by_key: Mapping[str, User],
    *,
    size: int,
    scope: str,
    in_cohort: bool | None = None,
) -> Sequence[Batch]:
    """Split users (sorted by key) into batches of at most `size`, each with its id.

    Users that are `UsersInKeyOrder` come back as batches made when each is read (in
    order, once), so that sending starts before the last users are made."""
    if size < 1:
        raise ValueError("a batch size must be at least 1")
    direction = "" if in_cohort is None else ("enter" if in_cohort else "leave")
    if isinstance(users_by_key, UsersInKeyOrder):
        return _BatchesInOrder(endpoint, users_by_key, size, scope, in_cohort, direction)
    keys = list(users_by_key)
    ordered = sorted(keys)
    # Users given in key order (test users are) are taken as they come, without a look-up
    # per key: for 100,000 users the look-ups cost more than the sort.
    users = list(users_by_key.values()) if ordered == keys else None
    planned = []
    for start in range(0, len(ordered), size):
        chunk_keys = tuple(ordered[start : start + size])
        planned.append(
            Batch(
                endpoint=endpoint,
                keys=chunk_keys,
                users=tuple(
                    users[start : start + size]
                    if users is not None
                    else map(users_by_key.__getitem__, chunk_keys)
                ),
                in_cohort=in_cohort,
                batch_id=batch_id_for(scope, endpoint, chunk_keys, direction=direction),
            )
        )
    return planned


class _BatchesInOrder(Sequence[Batch]):
    """The batches of `UsersInKeyOrder`, each made (its users and its id) when read."""

    def __init__(
        self,
        endpoint: str,
        users: UsersInKeyOrder,
        size: int,
        scope: str,
        in_cohort: bool | None,
        direction: str,
    ) -> None:
        self.endpoint, self.users, self.size = endpoint, users, size
        self.scope, self.in_cohort, self.direction = scope, in_cohort, direction

    def __len__(self) -> int:
        return -(-len(self.users) // self.size)

    @overload
    def __getitem__(self, index: int) -> Batch: ...

    @overload
    def __getitem__(self, index: slice) -> list[Batch]: ...

    def __getitem__(self, index: int | slice) -> Batch | list[Batch]:
        if isinstance(index, slice):
            return [self[position] for position in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("batch index out of range")
        start = index * self.size
        keys = tuple(self.users.keys_between(start, start + self.size))
        return Batch(
            endpoint=self.endpoint,
            keys=keys,
            users=tuple(self.users.between(start, start + len(keys))),
            in_cohort=self.in_cohort,
            batch_id=batch_id_for(self.scope, self.endpoint, keys, direction=self.direction),
        )


# --- results --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BatchFailure:
    """A batch that was not delivered: which, how many users, and the final error."""

    endpoint: str
    batch_id: str
    user_count: int
    error: PartnerError


@dataclass
class SyncResult:
    """What a run did. `error` is the failure that stopped it (None when it completed)."""

    list_id: str | None = None
    list_created: bool = False
    create_list_response: PartnerResponse | None = None
    batches_planned: int = 0
    batches_delivered: int = 0
    delivered_users: dict[str, int] = field(default_factory=dict)
    failed_batches: list[BatchFailure] = field(default_factory=list)
    abandoned_batches: int = 0
    error: PartnerError | None = None
    skipped_users: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, SkippedUser] = field(default_factory=dict)
    partner_ids: dict[str, str] = field(default_factory=dict)
    created_users: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def diagnosis(self) -> Diagnosis | None:
        return self.error.diagnosis if self.error is not None else None

    def raise_for_error(self) -> None:
        """Raise the stopping error, if any (for callers that prefer exceptions)."""
        if self.error is not None:
            raise self.error


# --- running --------------------------------------------------------------------------


class _RunStopped(Exception):
    """Raised inside a worker's retry wait when another batch failed for good."""


class _RateLimiter:
    """Spaces request starts at least 1/rate apart across all worker threads."""

    def __init__(self, rate: float, wait: Callable[[float], None]):
        self._interval = 1.0 / rate
        self._wait = wait
        self._lock = threading.Lock()
        self._next = time.monotonic()

    def acquire(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self._interval
        if slot > now:
            self._wait(slot - now)


def run_sync(
    integration: CompiledIntegration,
    client: OutboundClient,
    *,
    context: RenderContext,
    scope: str,
    to_add: Mapping[str, User] | None = None,
    to_remove: Mapping[str, User] | None = None,
    step: Step | None = None,
    policy: RetryPolicy | None = None,
    signing_secret: str | None = None,
    on_list_id: Callable[[str], None] | None = None,
    on_attempt: Callable[[AttemptRecord], None] | None = None,
    on_batch_delivered: Callable[[str, tuple[str, ...]], None] | None = None,
    on_users_skipped: Callable[[str, Mapping[str, SkippedUser]], None] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> SyncResult:
    """Run one sync (or one `step` of it, for "Test endpoint") and report as it goes.

    `to_add` and `to_remove` map the caller's user keys (what its delivered state
    stores) to the users to render. `context.list_id` is the list id already known, if
    any. `step`: `create_list` only creates the list; `add_users` / `remove_users` send
    only that side (with the list id in `context`); `update_users` sends the property
    updates only. `sleep` replaces the waits between retries (tests); by default a wait
    ends early when the run stops. Never raises `PartnerError`: failures are in the
    result. Exceptions from the callbacks propagate, after the workers have stopped.
    """
    to_add = to_add or {}
    to_remove = to_remove or {}
    if step is not None and step not in STEPS:
        raise ValueError(f"unknown step {step!r}; expected one of {', '.join(STEPS)}")
    delivery_settings: Mapping[str, Any] = integration.delivery or {}
    if delivery_settings.get("sign_requests") and not signing_secret:
        raise ValueError("this integration signs its requests: pass its signing secret")
    secret = signing_secret if delivery_settings.get("sign_requests") else None
    policy = policy or RetryPolicy()
    result = SyncResult(list_id=context.list_id)

    if integration.integration_type == "list":
        wants_create = step == CREATE_LIST or (step is None and not context.list_id)
        if wants_create:
            list_id = _create_list(
                integration, client, context, scope, policy, secret, on_attempt, sleep, result
            )
            if list_id is None:
                return result
            if on_list_id is not None:
                on_list_id(list_id)
            context = replace(context, list_id=list_id)
        if step == CREATE_LIST:
            return result
        planned: list[Sequence[Batch]] = []
        if step in (None, ADD_USERS):
            planned.append(
                plan_batches(ADD_USERS, to_add, size=integration.batch_size(ADD_USERS), scope=scope)
            )
        if step in (None, REMOVE_USERS):
            planned.append(
                plan_batches(
                    REMOVE_USERS, to_remove, size=integration.batch_size(REMOVE_USERS), scope=scope
                )
            )
    else:
        if step not in (None, UPDATE_USERS):
            raise ValueError(f"a property-based integration has no {step} step")
        size = integration.batch_size(UPDATE_USERS)
        planned = [
            plan_batches(UPDATE_USERS, to_add, size=size, scope=scope, in_cohort=True),
            plan_batches(UPDATE_USERS, to_remove, size=size, scope=scope, in_cohort=False),
        ]

    result.batches_planned = sum(map(len, planned))
    if result.batches_planned:
        _send_batches(
            integration,
            client,
            context,
            planned,
            policy=policy,
            signing_secret=secret,
            settings=delivery_settings,
            on_attempt=on_attempt,
            on_batch_delivered=on_batch_delivered,
            on_users_skipped=on_users_skipped,
            sleep=sleep,
            result=result,
        )
    return result


def _create_list(
    integration: CompiledIntegration,
    client: OutboundClient,
    context: RenderContext,
    scope: str,
    policy: RetryPolicy,
    signing_secret: str | None,
    on_attempt: Callable[[AttemptRecord], None] | None,
    sleep: Callable[[float], None] | None,
    result: SyncResult,
) -> str | None:
    """Find or create the list; its id, or None with `result.error` set."""
    outcome = ensure_list(
        integration,
        client,
        context=context,
        batch_id=batch_id_for(scope, CREATE_LIST, ()),
        policy=policy,
        signing_secret=signing_secret,
        on_attempt=on_attempt,
        sleep=sleep,
    )
    result.create_list_response = outcome.response
    if outcome.list_id is None:
        result.error = outcome.error or render_failure(ValueError("no list id"), CREATE_LIST)
        return None
    result.list_id = outcome.list_id
    result.list_created = True
    logger.info(
        "%s list %r for %s", "found" if outcome.found else "created", outcome.list_id, scope
    )
    return outcome.list_id


def _send_batches(
    integration: CompiledIntegration,
    client: OutboundClient,
    context: RenderContext,
    planned: Sequence[Sequence[Batch]],
    *,
    policy: RetryPolicy,
    signing_secret: str | None,
    settings: Mapping[str, Any],
    on_attempt: Callable[[AttemptRecord], None] | None,
    on_batch_delivered: Callable[[str, tuple[str, ...]], None] | None,
    on_users_skipped: Callable[[str, Mapping[str, SkippedUser]], None] | None,
    sleep: Callable[[float], None] | None,
    result: SyncResult,
) -> None:
    """Send `planned` (each endpoint's batches, in order) from worker threads; a batch
    made when read (`_BatchesInOrder`) is made by the thread that takes it."""
    stop = threading.Event()
    events: queue.Queue[tuple[str, Any]] = queue.Queue()
    total = sum(map(len, planned))
    # Batches are handed out in order, and each is made (when it is made on reading) by
    # the thread that took it, outside the lock: the others take the next ones meanwhile.
    pending = ((batches, index) for batches in planned for index in range(len(batches)))
    pending_lock = threading.Lock()

    def wait(seconds: float) -> None:
        # A retry wait ends early when the run stops, and the batch is abandoned.
        if sleep is not None:
            sleep(seconds)
        else:
            stop.wait(seconds)
        if stop.is_set():
            raise _RunStopped

    rate = settings.get("requests_per_second")
    limiter = _RateLimiter(float(rate), wait) if rate else None
    concurrency = int(settings.get("max_concurrency") or DEFAULT_CONCURRENCY)
    if any(integration.is_per_user(_endpoint_of(batches)) for batches in planned if batches):
        # A per-user batch sends its requests in parallel itself, up to the same limit.
        concurrency = 1
    workers = max(1, min(concurrency, MAX_CONCURRENCY, total))

    def work() -> None:
        while True:
            try:
                with pending_lock:
                    taken = None if stop.is_set() else next(pending, None)
                if taken is None:
                    return
                batch = taken[0][taken[1]]
                outcome, held = _deliver(batch)
            except BaseException as crash:
                # A bug, not a partner failure: stop everything and re-raise it on the
                # calling thread rather than let a batch vanish silently.
                stop.set()
                events.put(("crash", crash))
                return
            events.put(("outcome", (batch, outcome, held)))

    def _deliver(batch: Batch) -> tuple[BatchOutcome | None, list[AttemptRecord]]:
        # An acknowledged attempt reaches `on_attempt` together with its batch's outcome,
        # never before it: an observer that saves between the two (for another batch)
        # would record the request without the users it delivered.
        held: list[AttemptRecord] = []

        def attempted(record: AttemptRecord) -> None:
            if record.outcome in ("retrying", "failed"):
                events.put(("attempt", record))
            else:
                held.append(record)

        def release() -> None:
            for record in held:
                events.put(("attempt", record))
            held.clear()

        try:
            outcome = deliver_batch(
                integration,
                client,
                endpoint=batch.endpoint,
                users=batch.users,
                keys=batch.keys,
                context=context,
                batch_id=batch.batch_id,
                in_cohort=batch.in_cohort,
                policy=policy,
                signing_secret=signing_secret,
                throttle=limiter.acquire if limiter else None,
                on_attempt=attempted,
                sleep=wait,
            )
        except _RunStopped:
            release()
            return None, held
        except BaseException:
            release()
            raise
        if outcome.error is not None:
            stop.set()
        return outcome, held

    threads = [
        threading.Thread(target=work, name=f"sync-batch-{n}", daemon=True) for n in range(workers)
    ]
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(min(switch_interval, SWITCH_INTERVAL_SECONDS))
    for thread in threads:
        thread.start()
    finished = 0
    healthy = False
    try:
        while finished < total:
            try:
                kind, payload = events.get(timeout=EVENT_POLL_SECONDS)
            except queue.Empty:
                if not any(thread.is_alive() for thread in threads) and events.empty():
                    break  # the remaining batches were never started: the run stopped
                continue
            if kind == "outcome":
                finished += 1
            _dispatch(kind, payload, result, on_attempt, on_batch_delivered, on_users_skipped)
        healthy = True
    finally:
        if not healthy:
            stop.set()  # a callback or a worker raised: let no new batch start
        for thread in threads:
            thread.join()
        sys.setswitchinterval(switch_interval)
    # Events posted while the last workers were finishing (after an early stop).
    while not events.empty():
        kind, payload = events.get_nowait()
        _dispatch(kind, payload, result, on_attempt, on_batch_delivered, on_users_skipped)
    result.abandoned_batches = total - result.batches_delivered - len(result.failed_batches)


def _endpoint_of(batches: Sequence[Batch]) -> str:
    """The endpoint of one endpoint's batches (without making a batch made when read)."""
    return batches.endpoint if isinstance(batches, _BatchesInOrder) else batches[0].endpoint


def _dispatch(
    kind: str,
    payload: Any,
    result: SyncResult,
    on_attempt: Callable[[AttemptRecord], None] | None,
    on_batch_delivered: Callable[[str, tuple[str, ...]], None] | None,
    on_users_skipped: Callable[[str, Mapping[str, SkippedUser]], None] | None,
) -> None:
    if kind == "attempt":
        if on_attempt is not None:
            on_attempt(payload)
    elif kind == "crash":
        raise payload
    else:
        batch, outcome, held = payload
        if on_attempt is not None:
            for record in held:
                on_attempt(record)
        _record_outcome(batch, outcome, result, on_batch_delivered, on_users_skipped)


def _record_outcome(
    batch: Batch,
    outcome: BatchOutcome | None,
    result: SyncResult,
    on_batch_delivered: Callable[[str, tuple[str, ...]], None] | None,
    on_users_skipped: Callable[[str, Mapping[str, SkippedUser]], None] | None,
) -> None:
    if outcome is None:
        return  # abandoned: the run stopped while the batch waited to retry
    endpoint = batch.endpoint
    result.partner_ids.update(outcome.partner_ids)
    result.created_users += len(outcome.created)
    # The delivered users first: an observer that saves when users are skipped then
    # saves the batch's acknowledged request with them.
    if outcome.delivered:
        result.delivered_users[endpoint] = result.delivered_users.get(endpoint, 0) + len(
            outcome.delivered
        )
        if on_batch_delivered is not None:
            on_batch_delivered(endpoint, outcome.delivered)
    if outcome.skipped:
        result.skipped.update(outcome.skipped)
        result.skipped_users[endpoint] = result.skipped_users.get(endpoint, 0) + len(
            outcome.skipped
        )
        if on_users_skipped is not None:
            on_users_skipped(endpoint, outcome.skipped)
    if outcome.error is None:
        result.batches_delivered += 1
        return
    result.failed_batches.append(
        BatchFailure(
            endpoint, batch.batch_id, len(batch.keys) - len(outcome.delivered), outcome.error
        )
    )
    if result.error is None:
        result.error = outcome.error
        logger.info(
            "sync stopped: %s batch %s failed (%s)",
            endpoint,
            batch.batch_id,
            outcome.error.kind,
        )


def users_by_key(users: Collection[User], key: str) -> dict[str, User]:
    """Index users by one of their properties (e.g. "user_id"), skipping users without it."""
    indexed: dict[str, User] = {}
    for user in users:
        value = user.get(key)
        if value is not None and value != "":
            indexed[str(value)] = user
    return indexed
