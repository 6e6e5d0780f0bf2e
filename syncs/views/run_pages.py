"""The delivery log of one sync run: its counts and diagnosis, the requests made outside any
batch (creating the list), its planned batches a page at a time, each batch's attempts,
and the request/response inspector the test page uses."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from portal.access import MemberRequest, member_required
from portal.views.pages import paginate
from syncengine.views import readable_body
from syncs import access
from syncs.presenters import (
    InspectedExchange,
    run_badge,
    run_counts,
    run_kind_label,
    run_percent,
)

BATCHES_PER_PAGE = 50
MAX_SHOWN_EXCHANGES = 200
POLL_INTERVAL = "2s"


@require_GET
@member_required
def run_detail(request: MemberRequest, sync_id: int, sync_run_id: int) -> HttpResponse:
    sync = access.get_sync(request.org, sync_id)
    run = access.get_run_of(sync, sync_run_id)
    context = {
        "sync": sync,
        "run": run,
        "badge": run_badge(run),
        "kind": run_kind_label(run.kind),
        "counts": run_counts(run),
        "percent": run_percent(run),
        "poll_interval": POLL_INTERVAL,
    }
    if request.htmx and request.GET.get("part") == "head":
        return render(request, "syncs/_run_head.html", context)
    context["outside"] = list(run.exchanges.filter(batch__isnull=True)[:MAX_SHOWN_EXCHANGES])
    context["batches"] = paginate(request, run.batches.order_by("sequence"), BATCHES_PER_PAGE)
    return render(request, "syncs/run.html", context)


@require_GET
@member_required
def run_batch(
    request: MemberRequest, sync_id: int, sync_run_id: int, sequence: int
) -> HttpResponse:
    """Every attempt of one batch, for the batch's row to show when opened."""
    sync = access.get_sync(request.org, sync_id)
    run = access.get_run_of(sync, sync_run_id)
    batch = access.get_batch(run, sequence)
    exchanges = list(batch.exchanges.all()[:MAX_SHOWN_EXCHANGES])
    return render(
        request,
        "syncs/_batch.html",
        {"sync": sync, "run": run, "batch": batch, "exchanges": exchanges},
    )


@require_GET
@member_required
def run_exchange(
    request: MemberRequest, sync_id: int, sync_run_id: int, sequence: int
) -> HttpResponse:
    """One attempt: the request as sent and the response as received (secrets masked)."""
    sync = access.get_sync(request.org, sync_id)
    run = access.get_run_of(sync, sync_run_id)
    exchange = access.get_exchange(run, sequence)
    retry_after = next(
        (value for name, value in exchange.response_headers if name.lower() == "retry-after"),
        None,
    )
    return render(
        request,
        "syncs/_exchange.html",
        {
            "run": run,
            "exchange": InspectedExchange(exchange),
            "request_body": readable_body(exchange.request_body, exchange.request_body_truncated),
            "response_body": readable_body(
                exchange.response_body, exchange.response_body_truncated
            ),
            "retry_after": retry_after,
        },
    )
