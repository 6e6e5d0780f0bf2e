"""Delivering one planned batch, and creating (or finding) a list: the seam every sender uses.

Test runs and conformance checks (through `protocol.run_sync`) and production cohort syncs
(which stream their batches from the database and persist their plan) all deliver a batch
with one function:

    outcome = deliver_batch(
        integration, client,
        endpoint="add_users", users=users, keys=keys,       # keys: the caller's user keys
        context=context, batch_id=batch_id, in_cohort=None,
        policy=RetryPolicy(), signing_secret=secret,
        known_partner_ids=stored_ids,   # ids acknowledged by earlier syncs: not looked up
        throttle=shared_rate_limiter,   # called before every attempt (may be on a thread)
        on_attempt=store_attempt,       # every attempt, on the calling thread
        sleep=None, max_wait=5.0,       # a longer wait ends the call as "deferred"
        start_attempt=1,                # the attempt number a deferred call resumes at
    ) -> BatchOutcome

What it does, in order:

1. screens the users: a user whose mapped value is missing under `if_missing: skip`, or
   whose value its placeholder's type refuses (`${seats:number}` with "many"), is
   skipped, with the reason, before anything is sent;
2. if the endpoint has a lookup (version 2): looks up the partner ids of the users not in
   `known_partner_ids`, in requests of the lookup's own batch size (or one per user),
   matching results to users by key; users it does not find are skipped (`not_found:
   skip`), fail the batch (`fail`), or are created through the lookup's create request
   (`create`), whose answer gives their ids;
3. sends the endpoint's own request: once for the batch (`$items`, `$partner_id` per
   item), or once per user (`mode: per_user`), up to `delivery.max_concurrency` at a time.

Every request goes through `retry.send_with_retries`, so lookups and creates obey the same
retries, classifications, rate limit and SSRF guard (the one client) as the batch itself.
Idempotency-Key is the batch id for the batch request, a stable derivation of (batch id,
user key) for a request per user, and of (batch id, the users' keys) for lookup and
create requests: the same on every retry and every re-delivery of the batch.

`BatchOutcome` says which keys were delivered (acknowledged by the partner, or answered
with an error the endpoint classifies `ignore`), which were skipped and why, the partner
ids used or resolved per key (store them: a later sync needs no lookup for them), which
users the create request made, and the error that stopped the batch (a `PartnerError` with
its diagnosis), if any. A per-user batch may be delivered in part: `delivered` lists whom
the partner acknowledged. When a retry would wait longer than `max_wait`, the outcome is
*deferred*: `deferred.after_seconds` says when to try again and `deferred.attempts_used`
how many attempts the waiting request used; call again with the keys still pending,
`known_partner_ids` updated with `outcome.partner_ids`, and `start_attempt =
attempts_used + 1`.

`ensure_list` creates the list of a list-based sync, after looking it up by name when the
manifest has a find request (find-or-create).

Why one module of ~800 lines: every step above shares the private `_Sender` (retries,
throttle, signing, deferral) and `_Progress` (what was delivered, skipped and resolved so
far), and a batch's outcome is only right if they stay one object each for the whole
batch. Split, those two would become a public protocol between modules for no reader's
benefit.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from syncengine.core.compiler import CompiledIntegration
from syncengine.core.diagnosis import diagnose
from syncengine.core.errors import AttemptRecord, PartnerError, PartnerResponse
from syncengine.core.http import OutboundClient
from syncengine.core.manifest.schema import (
    CREATE_LIST,
    DEFAULT_LIST_ID_PATH,
    MAX_CONCURRENCY,
)
from syncengine.core.rendering import RequestTemplate
from syncengine.core.responses import (
    find_list,
    matching_key,
    read_list_id,
    read_partner_ids,
)
from syncengine.core.retry import Delivery, RetryDeferred, RetryPolicy, send_with_retries
from syncengine.core.template.errors import RenderError
from syncengine.core.template.values import describe_value
from syncengine.core.types import PreparedRequest, RenderContext, SkippedUser, User

BATCH_ID_HEX_CHARS = 24  # 96 bits: unique per scope for any realistic number of batches
# How long the calling thread waits for events of its per-user threads between checks.
EVENT_POLL_SECONDS = 0.05

T = TypeVar("T")
BatchStatus = Literal["delivered", "partial", "failed", "deferred", "skipped"]


def batch_id_for(scope: str, endpoint: str, keys: Iterable[str], *, direction: str = "") -> str:
    """A short, stable id for a batch: the same on every retry of the same batch.

    `scope` should identify the sync run (e.g. "connection:cohort:run"), not only the
    cohort: a later sync that re-adds the same users after they left must not reuse an
    id that the partner may still remember, or it would replay the old answer instead of
    adding them again. A crashed run resumed under the same scope reuses its ids, which
    is what lets partners drop the duplicates.
    """
    # Separators that cannot be confused: unit separator between the header parts,
    # record separator after each key (so ["ab"] and ["a", "b"] differ).
    header = "\x1f".join((scope, endpoint, direction)) + "\x1f"
    text = header + "\x1e".join(keys) + "\x1e"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:BATCH_ID_HEX_CHARS]


def user_request_id(batch_id: str, key: str) -> str:
    """The Idempotency-Key of the request a per-user endpoint sends for user `key`."""
    return batch_id_for(batch_id, "user", (key,))


@dataclass(frozen=True, slots=True)
class Deferral:
    """A request of the batch waits longer than `max_wait` before its next attempt."""

    after_seconds: float
    attempts_used: int
    request: str
    error: PartnerError


@dataclass(frozen=True)
class BatchOutcome:
    """What became of one batch (see the module docstring)."""

    endpoint: str
    batch_id: str
    keys: tuple[str, ...]
    delivered: tuple[str, ...] = ()
    skipped: Mapping[str, SkippedUser] = field(default_factory=dict)
    partner_ids: Mapping[str, str] = field(default_factory=dict)
    created: tuple[str, ...] = ()
    error: PartnerError | None = None
    deferred: Deferral | None = None
    ignored: bool = False

    @property
    def pending(self) -> tuple[str, ...]:
        """Keys neither delivered nor skipped: send them again (after a deferral or a fix)."""
        done = set(self.delivered) | set(self.skipped)
        return tuple(key for key in self.keys if key not in done)

    @property
    def status(self) -> BatchStatus:
        if self.deferred is not None:
            return "deferred"
        if self.error is not None:
            return "partial" if self.delivered else "failed"
        if not self.delivered and self.skipped and not self.pending:
            return "skipped"
        return "delivered"

    @property
    def ok(self) -> bool:
        """Nothing is left to send: every user was delivered or skipped."""
        return self.error is None and self.deferred is None and not self.pending


@dataclass(frozen=True)
class ListOutcome:
    """What `ensure_list` did: the list id, whether it was created or found, and the
    error or deferral that stopped it."""

    list_id: str | None = None
    created: bool = False
    found: bool = False
    response: PartnerResponse | None = None
    error: PartnerError | None = None
    deferred: Deferral | None = None


class _Stopped(Exception):
    """Ends a delivery early, carrying what stopped it."""

    def __init__(self, error: PartnerError | None = None, deferred: Deferral | None = None):
        super().__init__("stopped")
        self.error = error
        self.deferred = deferred


class _Sender:
    """Sends the requests of one delivery, with the call's retry settings."""

    def __init__(
        self,
        integration: CompiledIntegration,
        client: OutboundClient,
        *,
        policy: RetryPolicy,
        signing_secret: str | None,
        throttle: Callable[[], None] | None,
        on_attempt: Callable[[AttemptRecord], None] | None,
        sleep: Callable[[float], None],
        max_wait: float | None,
        start_attempt: int,
    ):
        self.integration = integration
        self.client = client
        self.policy = policy
        self.signing_secret = signing_secret
        self.throttle = throttle
        self.on_attempt = on_attempt
        self.sleep = sleep
        self.max_wait = max_wait
        self._start_attempt = start_attempt
        self._lock = threading.Lock()

    def first_attempt(self) -> int:
        """`start_attempt` for the first request sent, 1 for every later one."""
        with self._lock:
            start, self._start_attempt = self._start_attempt, 1
        return start

    def send(
        self,
        request: PreparedRequest,
        *,
        on_attempt: Callable[[AttemptRecord], None] | None = None,
    ) -> Delivery:
        """Send with retries; `_Stopped` when it failed for good or must wait too long."""
        try:
            return send_with_retries(
                self.client,
                request,
                self.policy,
                classifications=self.integration.error_classifications(request.endpoint),
                sleep=self.sleep,
                on_attempt=on_attempt or self.on_attempt,
                signing_secret=self.signing_secret,
                throttle=self.throttle,
                max_wait=self.max_wait,
                start_attempt=self.first_attempt(),
            )
        except PartnerError as error:
            raise _Stopped(error=error) from None
        except RetryDeferred as waiting:
            deferral = Deferral(
                waiting.after_seconds, waiting.attempts_used, request.endpoint, waiting.error
            )
            raise _Stopped(deferred=deferral) from None

    def each_user(
        self, jobs: Sequence[tuple[str, Callable[[Callable[..., None]], T]]]
    ) -> list[tuple[str, T]]:
        """Run per-user jobs up to `delivery.max_concurrency` at a time.

        Each job gets the attempt callback to use. Attempts are reported on the calling
        thread. The first job that stops (a failure, a deferral) stops the others from
        starting; the results of the jobs that finished come back with the `_Stopped`.
        """
        concurrency = int(self.integration.delivery.get("max_concurrency") or MAX_CONCURRENCY)
        workers = max(1, min(concurrency, MAX_CONCURRENCY, len(jobs)))
        results: list[tuple[str, T]] = []
        if workers == 1:
            for key, job in jobs:
                try:
                    results.append((key, job(self.on_attempt or _ignore)))
                except _Stopped as stopped:
                    raise _PartlyStopped(stopped, results) from None
            return results
        return self._in_threads(jobs, workers)

    def _in_threads(
        self, jobs: Sequence[tuple[str, Callable[[Callable[..., None]], T]]], workers: int
    ) -> list[tuple[str, T]]:
        events: queue.Queue[tuple[str, Any]] = queue.Queue()
        pending = iter(jobs)
        lock = threading.Lock()
        stop = threading.Event()

        def report(record: AttemptRecord) -> None:
            events.put(("attempt", record))

        def work() -> None:
            while True:
                with lock:
                    job = None if stop.is_set() else next(pending, None)
                if job is None:
                    return
                key, run = job
                try:
                    events.put(("result", (key, run(report))))
                except _Stopped as stopped:
                    stop.set()
                    events.put(("stopped", stopped))
                except BaseException as crash:
                    stop.set()
                    events.put(("crash", crash))

        threads = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
        for thread in threads:
            thread.start()
        results: list[tuple[str, T]] = []
        first_stop: _Stopped | None = None
        crash: BaseException | None = None
        try:
            while any(thread.is_alive() for thread in threads) or not events.empty():
                try:
                    kind, payload = events.get(timeout=EVENT_POLL_SECONDS)
                except queue.Empty:
                    continue
                if kind == "attempt":
                    if self.on_attempt is not None:
                        self.on_attempt(payload)
                elif kind == "result":
                    results.append(payload)
                elif kind == "stopped":
                    first_stop = first_stop or payload
                else:
                    crash = crash or payload
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        if crash is not None:
            raise crash
        if first_stop is not None:
            raise _PartlyStopped(first_stop, results)
        return results


class _PartlyStopped(Exception):
    def __init__(self, stopped: _Stopped, results: list[Any]):
        super().__init__("stopped")
        self.stopped = stopped
        self.results = results


def _ignore(record: AttemptRecord) -> None:
    """An attempt callback that keeps nothing."""


@dataclass
class _Progress:
    """What a delivery has learnt so far; the outcome is built from it however it ends."""

    skipped: dict[str, SkippedUser] = field(default_factory=dict)
    partner_ids: dict[str, str] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    delivered: list[str] = field(default_factory=list)
    ignored: bool = False


def deliver_batch(
    integration: CompiledIntegration,
    client: OutboundClient,
    *,
    endpoint: str,
    users: Sequence[User],
    keys: Sequence[str],
    context: RenderContext,
    batch_id: str,
    in_cohort: bool | None = None,
    policy: RetryPolicy | None = None,
    signing_secret: str | None = None,
    known_partner_ids: Mapping[str, str] | None = None,
    throttle: Callable[[], None] | None = None,
    on_attempt: Callable[[AttemptRecord], None] | None = None,
    sleep: Callable[[float], None] | None = None,
    max_wait: float | None = None,
    start_attempt: int = 1,
) -> BatchOutcome:
    """Deliver one planned batch of `endpoint` (see the module docstring).

    `users[i]` is the user whose key is `keys[i]`; keys are unique (every caller's plan
    makes them so: they come from a mapping's keys or a table's key column; checking it
    here again cost a pass over every batch's keys). `signing_secret` is
    required when the integration signs its requests (`ValueError` otherwise). Never raises
    `PartnerError`: failures come back in the outcome. A request that cannot be rendered
    (a required Connect-modal value left empty, a mapping choice missing) is a permanent
    failure of kind `invalid_request`. Exceptions raised by `on_attempt`, `sleep` or
    `throttle` propagate.
    """
    if len(users) != len(keys):
        raise ValueError("give one key per user")
    sender = _Sender(
        integration,
        client,
        policy=policy or RetryPolicy(),
        signing_secret=_signing_secret(integration, signing_secret),
        throttle=throttle,
        on_attempt=on_attempt,
        sleep=sleep or time.sleep,
        max_wait=max_wait,
        start_attempt=start_attempt,
    )
    progress = _Progress()
    known = known_partner_ids or {}
    error: PartnerError | None = None
    deferred: Deferral | None = None
    try:
        integration.request(endpoint)
        # The batch stays as the caller's two sequences unless a user is left out: a batch
        # of 10,000 is not copied into pairs and back on its way to the request.
        sending = _screen(integration, endpoint, keys, users, context, progress)
        if integration.lookup_of(endpoint) is not None:
            remaining = _resolve(
                integration,
                sender,
                endpoint,
                list(zip(*sending, strict=True)),
                context,
                batch_id,
                in_cohort,
                known,
                progress,
            )
            sending = [key for key, _ in remaining], [user for _, user in remaining]
        if sending[0]:
            _send_main(
                integration, sender, endpoint, sending, context, batch_id, in_cohort, progress
            )
    except _Stopped as stopped:
        error, deferred = stopped.error, stopped.deferred
    except _RenderFailure as failure:
        error = failure.error
    return BatchOutcome(
        endpoint=endpoint,
        batch_id=batch_id,
        keys=tuple(keys),
        delivered=tuple(progress.delivered),
        skipped=dict(progress.skipped),
        partner_ids=dict(progress.partner_ids),
        created=tuple(progress.created),
        error=error,
        deferred=deferred,
        ignored=progress.ignored,
    )


def _signing_secret(integration: CompiledIntegration, secret: str | None) -> str | None:
    """The secret to sign with: required when the integration signs, unused otherwise."""
    if not integration.delivery.get("sign_requests"):
        return None
    if not secret:
        raise ValueError("this integration signs its requests: pass its signing secret")
    return secret


class _RenderFailure(Exception):
    def __init__(self, error: PartnerError):
        super().__init__(error.message)
        self.error = error


def render_failure(problem: Exception, endpoint: str) -> PartnerError:
    """A request that cannot be rendered, as a permanent failure with its diagnosis."""
    path = getattr(problem, "path", "") or f"endpoints.{endpoint}"
    message = getattr(problem, "message", None) or str(problem)
    error = PartnerError(
        "invalid_request",
        f"{path}: {message}",
        permanent=True,
        info={"path": path, "endpoint": endpoint},
    )
    error.diagnosis = diagnose(error)
    return error


# What building a request raises when the configuration or the values cannot make one.
_RENDER_PROBLEMS = (RenderError, ValueError, LookupError, TypeError)


def _build(integration: CompiledIntegration, name: str, **arguments: Any) -> PreparedRequest:
    try:
        return integration.build_request(name, **arguments)
    except _RENDER_PROBLEMS as problem:
        raise _RenderFailure(render_failure(problem, name)) from None


def _screen(
    integration: CompiledIntegration,
    name: str,
    keys: Sequence[str],
    users: Sequence[User],
    context: RenderContext,
    progress: _Progress,
) -> tuple[Sequence[str], Sequence[User]]:
    """The keys and users request `name` can send (the same sequences when it can send
    them all); the others are noted skipped, with the reason."""
    try:
        problems = integration.screen_users(name, users, context)
    except RenderError as problem:
        raise _RenderFailure(render_failure(problem, name)) from None
    if not problems:
        return keys, users
    for index, skipped in problems.items():
        progress.skipped[keys[index]] = skipped
    kept = [index for index in range(len(keys)) if index not in problems]
    return [keys[index] for index in kept], [users[index] for index in kept]


def _screen_pairs(
    integration: CompiledIntegration,
    name: str,
    pairs: list[tuple[str, User]],
    context: RenderContext,
    progress: _Progress,
) -> list[tuple[str, User]]:
    """`_screen` for (key, user) pairs, as the lookup's steps keep them."""
    keys, users = _screen(
        integration, name, [key for key, _ in pairs], [user for _, user in pairs], context, progress
    )
    return list(zip(keys, users, strict=True))


def _chunks[Item](items: Sequence[Item], size: int) -> list[Sequence[Item]]:
    return [items[start : start + size] for start in range(0, len(items), max(1, size))]


def _resolve(
    integration: CompiledIntegration,
    sender: _Sender,
    endpoint: str,
    remaining: list[tuple[str, User]],
    context: RenderContext,
    batch_id: str,
    in_cohort: bool | None,
    known: Mapping[str, str],
    progress: _Progress,
) -> list[tuple[str, User]]:
    """Find each user's partner id (known, looked up or created); the users that have one."""
    lookup = integration.lookup_of(endpoint)
    assert lookup is not None and lookup.reading is not None
    for key, _ in remaining:
        if known.get(key):
            progress.partner_ids[key] = known[key]
    needed = [(key, user) for key, user in remaining if key not in progress.partner_ids]
    needed = _screen_pairs(integration, lookup.name, needed, context, progress)
    if needed:
        try:
            lookup_keys = integration.lookup_keys(endpoint, [user for _, user in needed], context)
        except RenderError as problem:
            raise _RenderFailure(render_failure(problem, lookup.name)) from None
        by_key = dict(zip((key for key, _ in needed), lookup_keys, strict=True))
        _look_up(
            integration, sender, lookup, needed, by_key, context, batch_id, in_cohort, progress
        )
        missing = [(key, user) for key, user in needed if key not in progress.partner_ids]
        if missing:
            _not_found(
                integration,
                sender,
                endpoint,
                lookup,
                missing,
                by_key,
                context,
                batch_id,
                in_cohort,
                progress,
            )
    return [
        (key, user)
        for key, user in remaining
        if key in progress.partner_ids and key not in progress.skipped
    ]


def _look_up(
    integration: CompiledIntegration,
    sender: _Sender,
    request: RequestTemplate,
    needed: list[tuple[str, User]],
    lookup_keys: Mapping[str, str],
    context: RenderContext,
    batch_id: str,
    in_cohort: bool | None,
    progress: _Progress,
) -> None:
    """Send `request` (a lookup or a create) for `needed` and record the ids it gives."""
    reading = request.reading
    assert reading is not None

    def record(found: Mapping[str, str], chunk: Sequence[tuple[str, User]]) -> None:
        for key, _ in chunk:
            wanted = matching_key(lookup_keys[key], ignore_case=reading.ignore_case)
            if wanted in found:
                progress.partner_ids[key] = found[wanted]

    def read(delivery: Delivery, only_key: str | None) -> dict[str, str]:
        try:
            return read_partner_ids(
                delivery.response,
                name=request.name,
                results_path=reading.results_path,
                result_key_path=reading.result_key_path,
                partner_id_path=reading.partner_id_path,
                ignore_case=reading.ignore_case,
                only_key=only_key,
                ignored=delivery.ignored,
            )
        except PartnerError as error:
            error.diagnosis = diagnose(error, integration.error_classifications(request.name))
            raise _Stopped(error=error) from None

    if not request.per_user:
        for chunk in _chunks(needed, request.batch_size):
            chunk_keys = [key for key, _ in chunk]
            prepared = _build(
                integration,
                request.name,
                context=context,
                users=[user for _, user in chunk],
                in_cohort=in_cohort,
                batch_id=batch_id_for(batch_id, request.role, chunk_keys),
            )
            record(read(sender.send(prepared), None), chunk)
        return

    def job(key: str, user: User) -> Callable[[Callable[..., None]], dict[str, str]]:
        def run(report: Callable[..., None]) -> dict[str, str]:
            prepared = _build(
                integration,
                request.name,
                context=context,
                users=[user],
                in_cohort=in_cohort,
                batch_id=batch_id_for(batch_id, request.role, (key,)),
            )
            return read(sender.send(prepared, on_attempt=report), lookup_keys[key])

        return run

    try:
        results = sender.each_user([(key, job(key, user)) for key, user in needed])
    except _PartlyStopped as partly:
        for key, found in partly.results:
            record(found, [(key, {})])
        raise partly.stopped from None
    for key, found in results:
        record(found, [(key, {})])


def _not_found(
    integration: CompiledIntegration,
    sender: _Sender,
    endpoint: str,
    lookup: RequestTemplate,
    missing: list[tuple[str, User]],
    lookup_keys: Mapping[str, str],
    context: RenderContext,
    batch_id: str,
    in_cohort: bool | None,
    progress: _Progress,
) -> None:
    action = lookup.not_found or "skip"
    if action == "skip":
        for key, _ in missing:
            progress.skipped[key] = SkippedUser(
                "not_found",
                f"the lookup found no partner record for {describe_value(lookup_keys[key])}",
            )
        return
    if action == "fail":
        shown = ", ".join(describe_value(lookup_keys[key]) for key, _ in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        error = PartnerError(
            "not_found",
            f"{lookup.name} found no partner record for {len(missing)} user(s): {shown}{more} "
            '(the lookup says not_found "fail")',
            permanent=True,
            info={"endpoint": endpoint, "count": len(missing)},
        )
        error.diagnosis = diagnose(error)
        raise _Stopped(error=error)
    create = integration.create_of(endpoint)
    assert create is not None
    candidates = _screen_pairs(integration, create.name, missing, context, progress)
    before = set(progress.partner_ids)
    _look_up(
        integration, sender, create, candidates, lookup_keys, context, batch_id, in_cohort, progress
    )
    progress.created += [
        key for key, _ in candidates if key in progress.partner_ids and key not in before
    ]
    still = [key for key, _ in candidates if key not in progress.partner_ids]
    if still:
        shown = ", ".join(describe_value(lookup_keys[key]) for key in still[:5])
        where = create.reading.partner_id_path if create.reading is not None else ""
        error = PartnerError(
            "created_without_id",
            f"{create.name} answered, but its answer has no partner id for {len(still)} "
            f"user(s) ({shown}) at partner_id_path {where!r}",
            permanent=True,
            info={"endpoint": endpoint, "count": len(still)},
        )
        error.diagnosis = diagnose(error)
        raise _Stopped(error=error)


def _send_main(
    integration: CompiledIntegration,
    sender: _Sender,
    endpoint: str,
    sending: tuple[Sequence[str], Sequence[User]],
    context: RenderContext,
    batch_id: str,
    in_cohort: bool | None,
    progress: _Progress,
) -> None:
    request = integration.request(endpoint)
    with_ids = integration.lookup_of(endpoint) is not None
    keys, users = sending
    if not request.per_user:
        prepared = _build(
            integration,
            endpoint,
            context=context,
            users=users,
            in_cohort=in_cohort,
            batch_id=batch_id,
            partner_ids=[progress.partner_ids[key] for key in keys] if with_ids else None,
        )
        delivery = sender.send(prepared)
        progress.ignored = delivery.ignored
        progress.delivered += keys
        return

    def job(key: str, user: User) -> Callable[[Callable[..., None]], bool]:
        def run(report: Callable[..., None]) -> bool:
            prepared = _build(
                integration,
                endpoint,
                context=context,
                users=[user],
                in_cohort=in_cohort,
                batch_id=user_request_id(batch_id, key),
                partner_ids=[progress.partner_ids[key]] if with_ids else None,
            )
            return sender.send(prepared, on_attempt=report).ignored

        return run

    try:
        jobs = [(key, job(key, user)) for key, user in zip(keys, users, strict=True)]
        results = sender.each_user(jobs)
    except _PartlyStopped as partly:
        progress.delivered += [key for key, _ in partly.results]
        raise partly.stopped from None
    order = {key: index for index, key in enumerate(keys)}
    progress.delivered += sorted((key for key, _ in results), key=order.__getitem__)
    progress.ignored = any(ignored for _, ignored in results)


def ensure_list(
    integration: CompiledIntegration,
    client: OutboundClient,
    *,
    context: RenderContext,
    batch_id: str,
    policy: RetryPolicy | None = None,
    signing_secret: str | None = None,
    throttle: Callable[[], None] | None = None,
    on_attempt: Callable[[AttemptRecord], None] | None = None,
    sleep: Callable[[float], None] | None = None,
    max_wait: float | None = None,
    start_attempt: int = 1,
) -> ListOutcome:
    """The list of a list-based sync: found by name when create_list has a find request
    (version 2), otherwise (or when not found) created. Store `list_id` before sending
    any batch. Never raises `PartnerError`."""
    sender = _Sender(
        integration,
        client,
        policy=policy or RetryPolicy(),
        signing_secret=_signing_secret(integration, signing_secret),
        throttle=throttle,
        on_attempt=on_attempt,
        sleep=sleep or time.sleep,
        max_wait=max_wait,
        start_attempt=start_attempt,
    )
    try:
        find = integration.find_of_list()
        if find is not None:
            found = _find_list(integration, sender, find, context, batch_id)
            if found is not None:
                return found
        prepared = _build(integration, CREATE_LIST, context=context, batch_id=batch_id)
        delivery = sender.send(prepared)
        path = integration.list_id_path or DEFAULT_LIST_ID_PATH
        try:
            list_id = read_list_id(delivery.response, path)
        except PartnerError as error:
            error.diagnosis = diagnose(error, integration.error_classifications(CREATE_LIST))
            return ListOutcome(response=delivery.response, error=error)
        return ListOutcome(list_id=list_id, created=True, response=delivery.response)
    except _Stopped as stopped:
        return ListOutcome(error=stopped.error, deferred=stopped.deferred)
    except _RenderFailure as failure:
        return ListOutcome(error=failure.error)


def _find_list(
    integration: CompiledIntegration,
    sender: _Sender,
    find: RequestTemplate,
    context: RenderContext,
    batch_id: str,
) -> ListOutcome | None:
    finding = find.finding
    assert finding is not None
    prepared = _build(
        integration, find.name, context=context, batch_id=batch_id_for(batch_id, "find", ())
    )
    delivery = sender.send(prepared)
    if delivery.ignored:
        return None  # the partner's "no such list" (a 404, say), classified ignore
    try:
        match = integration.list_name_to_match(context)
        list_id = find_list(
            delivery.response,
            name=find.name,
            list_id_path=finding.list_id_path,
            results_path=finding.results_path,
            match_path=finding.match_path,
            match=match,
            ignore_case=finding.ignore_case,
        )
    except PartnerError as error:
        error.diagnosis = diagnose(error, integration.error_classifications(find.name))
        return ListOutcome(response=delivery.response, error=error)
    except RenderError as problem:
        raise _RenderFailure(render_failure(problem, find.name)) from None
    if list_id is None:
        return None
    return ListOutcome(list_id=list_id, found=True, response=delivery.response)
