"""The demo partner's own HTML page: recent requests, lists and the fault switches.

Server-rendered with every value escaped; no script at all, a stylesheet served from the
same origin, so the page works under a strict Content-Security-Policy.
"""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any

from demo_partner import reference
from demo_partner.state import PartnerState

PAGE_REQUESTS = 50
BODY_PREVIEW_CHARS = 2000

STYLESHEET = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem; color: #1d2330; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; border-bottom: 1px solid #dde1e8; padding: .35rem .5rem;
  vertical-align: top; }
code, pre { font: 12px/1.4 ui-monospace, monospace; }
pre { white-space: pre-wrap; word-break: break-all; max-height: 12rem; overflow: auto;
  background: #f5f6f8; padding: .5rem; margin: 0; }
.ok { color: #106b2f; } .bad { color: #a4161a; } .muted { color: #6b7280; }
form.inline { display: inline-block; margin-right: 1rem; }
label { margin-right: .75rem; } input { width: 6rem; }
"""


def render_page(state: PartnerState) -> str:
    """The whole page as text."""
    faults = state.set_faults()
    lists = state.list_summaries()
    requests = list(reversed(state.log_entries()))[:PAGE_REQUESTS]
    in_cohort = len(state.users_in_cohort())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Demo partner</title>
<link rel="stylesheet" href="/style.css">
</head><body>
<h1>Demo partner</h1>
<p class="muted">A stand-in for a partner API. Credentials: <code>Authorization: Bearer
demo-token</code> or <code>X-API-Key: demo-key</code>. JSON log at <a href="/_log">/_log</a>.
Reload the page to see new requests.</p>

<h2>The API</h2>
{_api_reference()}

<h2>Fault switches</h2>
<form class="inline" method="post" action="/_faults">
<label>Fail next <input name="fail_next" type="number" min="0" value="{faults.fail_next}">
requests</label>
<label>with status <input name="status" type="number" min="400" max="599"
 value="{faults.status}"></label>
<label>Retry-After <input name="retry_after" value="{escape(faults.retry_after or "")}"></label>
<label>Delay every response by <input name="delay_ms" type="number" min="0"
 value="{faults.delay_ms}"> ms</label>
<button type="submit">Apply</button>
</form>
<form class="inline" method="post" action="/_reset">
<button type="submit">Reset everything</button>
</form>

<h2>Lists ({len(lists)})</h2>
{_lists_table(lists)}
<p>Users with <code>in_cohort</code> true (property API): {in_cohort}</p>

<h2>Recent requests ({len(requests)} shown)</h2>
{_requests_table(requests)}
</body></html>
"""


def _api_reference() -> str:
    rows = "".join(
        f"<tr><td><code>{escape(op.method)} {escape(op.path)}</code><br>"
        f"<span class='muted'>{escape(op.api)} API</span></td>"
        f"<td><pre>{escape(op.body)}</pre></td>"
        f"<td><pre>{op.status} {escape(op.answer)}</pre></td><td>{escape(op.note)}</td></tr>"
        for op in reference.operations()
    )
    return (
        f"<p>Every call needs <code>{escape(reference.CREDENTIALS)}</code>.</p>"
        "<table><tr><th>Call</th><th>Example body</th><th>Answer</th><th></th></tr>"
        f"{rows}</table>"
        f"<p class='muted'>{escape(reference.BODY_SHAPES)} {escape(reference.ERRORS)}</p>"
    )


def _lists_table(lists: list[dict[str, Any]]) -> str:
    if not lists:
        return '<p class="muted">No lists yet.</p>'
    rows = "".join(
        f"<tr><td><code>{escape(item['id'])}</code></td><td>{escape(item['name'])}</td>"
        f"<td>{item['member_count']}</td></tr>"
        for item in lists
    )
    return f"<table><tr><th>Id</th><th>Name</th><th>Members</th></tr>{rows}</table>"


def _requests_table(requests: list[dict[str, Any]]) -> str:
    if not requests:
        return '<p class="muted">No requests yet.</p>'
    rows = []
    for entry in requests:
        status = entry.get("status", 0)
        css = "ok" if 200 <= status <= 299 else "bad"
        when = dt.datetime.fromtimestamp(entry["time"], tz=dt.UTC).strftime("%H:%M:%S")
        headers = "\n".join(f"{name}: {value}" for name, value in entry["headers"])
        body = entry["body"]
        if len(body) > BODY_PREVIEW_CHARS:
            body = body[:BODY_PREVIEW_CHARS] + f"… ({entry['body_bytes']} bytes)"
        notes = []
        if entry.get("item_count") is not None:
            notes.append(f"{entry['item_count']} items")
        if entry.get("replayed"):
            notes.append("idempotent replay")
        if entry.get("fault"):
            notes.append("injected fault")
        if entry.get("signature"):
            notes.append(f"signature {entry['signature']}")
        rows.append(
            f"<tr><td>{when}</td><td><code>{escape(entry['method'])} {escape(entry['path'])}"
            f"</code><br><span class='muted'>{escape(', '.join(notes))}</span></td>"
            f"<td class='{css}'>{status}</td>"
            f"<td><pre>{escape(headers)}</pre></td><td><pre>{escape(body)}</pre></td></tr>"
        )
    return (
        "<table><tr><th>Time (UTC)</th><th>Request</th><th>Status</th><th>Headers</th>"
        f"<th>Body</th></tr>{''.join(rows)}</table>"
    )
