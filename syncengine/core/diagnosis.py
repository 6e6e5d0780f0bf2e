"""Turning partner failures into plain language: the one place that does it.

Every `PartnerError` kind has its own explanation, written for a partner developer
looking at a test run. For a bad HTTP status the endpoint's error classifications
(`errors` in the manifest) are matched first: status plus, when given, a sub-code read
from the JSON body at `sub_code_path`. A match supplies the partner's own message and an
action that overrides the platform's default retryability:

- `retry`: try again (within the retry policy's attempts), even for a 4xx;
- `fail`: stop at once, even for a 5xx;
- `ignore`: treat the batch as delivered (e.g. "user already in list").

A classification with a sub-code is more specific than one without and wins over it,
whatever their order in the list.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from syncengine.core import jsonpath
from syncengine.core.errors import Action, Diagnosis, PartnerError

# The actions a classification can ask for, by the name the manifest gives them.
ACTIONS: dict[str, Action] = {"retry": "retry", "fail": "fail", "ignore": "ignore"}

# A hint per status family for unclassified errors: what a partner usually has to check.
STATUS_HINTS: dict[int, str] = {
    400: "The partner rejected the request as malformed: compare the payload with their API.",
    401: "The partner did not accept the credentials: check the API key or token.",
    403: "The credentials were accepted but lack permission for this call.",
    404: "The URL was not found: check the path and, for add/remove, the list id.",
    405: "The partner does not accept this HTTP method at this URL.",
    408: "The partner timed out waiting for the request: a temporary failure.",
    409: "The partner reported a conflict with the current state.",
    413: "The request was too large for the partner: try a smaller batch size.",
    415: "The partner does not accept this Content-Type: check the endpoint's headers.",
    422: "The partner could not process the payload: check the field names and values.",
    429: "The partner is rate limiting us: a temporary failure, retried after a pause.",
}
SERVER_ERROR_HINT = "The partner's server had a problem: a temporary failure."
BODY_EXCERPT_CHARS = 300


def reason_phrase(status: int, given: str = "") -> str:
    """The reason phrase a server sent, or the standard one for the status."""
    if given:
        return given
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def read_sub_code(body: bytes, path: str) -> str | None:
    """The sub-code at `path` in a JSON body, or None (not JSON, nothing there, bad path)."""
    try:
        document = json.loads(body)
        value = jsonpath.lookup(document, path)
    except (ValueError, jsonpath.PathNotFound, RecursionError):
        return None
    if isinstance(value, dict | list) or value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def match_classification(
    status: int, body: bytes, classifications: Sequence[Mapping[str, Any]]
) -> tuple[Mapping[str, Any] | None, str | None]:
    """The classification that applies to a response, and the sub-code that matched it.

    A classification with a `sub_code` matches only when the body has that value at its
    `sub_code_path`; it beats a status-only classification listed before it.
    """
    status_only: Mapping[str, Any] | None = None
    for entry in classifications:
        if _as_status(entry.get("status")) != status:
            continue
        wanted = entry.get("sub_code")
        if wanted in (None, ""):
            if status_only is None:
                status_only = entry
            continue
        path = entry.get("sub_code_path")
        if not path:
            continue
        found = read_sub_code(body, str(path))
        if found is not None and found == str(wanted):
            return entry, found
    return status_only, None


def diagnose(error: PartnerError, classifications: Sequence[Mapping[str, Any]] = ()) -> Diagnosis:
    """Explain `error` in plain language and decide whether to retry, fail or ignore."""
    default_action: Action = "fail" if error.permanent else "retry"
    info = error.info
    detail = error.message
    kind = error.kind

    if kind == "http_status" and error.status is not None:
        return _diagnose_status(error, classifications)

    host = info.get("host", "the partner's host")
    explain = _EXPLAINERS.get(kind)
    if explain is None:
        title, message = "Request failed", error.message
    else:
        title, message = explain(error, host, info)
    return Diagnosis(
        kind=kind,
        title=title,
        message=message,
        action=default_action,
        status=error.status,
        detail=detail,
        field=_field_at_fault(kind, info),
    )


def _field_at_fault(kind: str, info: Mapping[str, Any]) -> str:
    """The manifest path to fix, where one field is clearly at fault."""
    if kind == "list_id_missing" and info.get("endpoint") == "create_list":
        return "endpoints.create_list.list_id_path"
    return ""


def _diagnose_status(
    error: PartnerError, classifications: Sequence[Mapping[str, Any]]
) -> Diagnosis:
    status = error.status or 0
    response = error.response
    body = response.body if response is not None else b""
    given_reason = response.reason if response is not None else ""
    entry, sub_code = match_classification(status, body, classifications)
    if entry is not None:
        action = ACTIONS.get(entry.get("action", "")) or ("fail" if error.permanent else "retry")
        reason = str(entry.get("reason") or reason_phrase(status, given_reason))
        partner_message = str(entry.get("message") or "").strip()
        message = partner_message or f"The partner answered {status} {reason}."
        return Diagnosis(
            kind="http_status",
            title=f"{status} {reason}".strip(),
            message=message,
            action=action,
            status=status,
            sub_code=sub_code,
            classified=True,
            classification=dict(entry),
            detail=error.message,
        )
    reason = reason_phrase(status, given_reason)
    if 500 <= status <= 599:
        hint = SERVER_ERROR_HINT if not error.permanent else ""
    else:
        hint = STATUS_HINTS.get(status, "")
    message = f"The partner answered {status} {reason}.".replace(" .", ".")
    if hint:
        message += " " + hint
    excerpt = _body_excerpt(body)
    if excerpt:
        message += f" Response: {excerpt}"
    return Diagnosis(
        kind="http_status",
        title=f"{status} {reason}".strip(),
        message=message,
        action="fail" if error.permanent else "retry",
        status=status,
        detail=error.message,
    )


def _as_status(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return None


def _body_excerpt(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    if len(text) > BODY_EXCERPT_CHARS:
        text = text[:BODY_EXCERPT_CHARS] + "…"
    return text


def _seconds(value: Any) -> str:
    try:
        return f"{float(value):g} s"
    except (TypeError, ValueError):
        return "the time limit"


def _explain_connection_refused(
    error: PartnerError, host: str, info: Mapping[str, Any]
) -> tuple[str, str]:
    where = f"{host}:{info['port']}" if info.get("port") else host
    return (
        "Connection refused",
        f"The server at {where} refused the connection: nothing is listening there. "
        "Check the host and port in the URL and that the service is running.",
    )


def _explain_dns_failure(
    error: PartnerError, host: str, info: Mapping[str, Any]
) -> tuple[str, str]:
    if error.permanent:
        return (
            "Host not found",
            f"The host name {host} does not exist (DNS lookup failed). "
            "Check the spelling of the host in the URL.",
        )
    return (
        "DNS lookup failed",
        f"Looking up the host name {host} failed temporarily.",
    )


def _explain_tls_error(error: PartnerError, host: str, info: Mapping[str, Any]) -> tuple[str, str]:
    return (
        "Secure connection failed",
        f"The secure (TLS) connection to {host} failed: {error.message}. The server's "
        "certificate may be expired, self-signed or issued for another name.",
    )


def _explain_timeout(error: PartnerError, host: str, info: Mapping[str, Any]) -> tuple[str, str]:
    phase = info.get("phase")
    limit = _seconds(info.get("timeout"))
    if phase == "connect":
        text = f"Connecting to {host} took longer than {limit}."
    elif phase == "deadline":
        text = f"The response from {host} did not finish within {limit}."
    else:
        text = f"{host} did not answer within {limit}."
    return "Timed out", text


def _explain_redirect(error: PartnerError, host: str, info: Mapping[str, Any]) -> tuple[str, str]:
    location = info.get("location") or "(no Location header)"
    return (
        f"Redirect ({error.status})",
        f"The endpoint answered with a redirect ({error.status}) to {location}. Redirects "
        "are not followed: put the final URL in the endpoint configuration.",
    )


def _explain_too_large(error: PartnerError, host: str, info: Mapping[str, Any]) -> tuple[str, str]:
    return (
        "Response too large",
        f"The response declares {info.get('declared')} bytes, more than the "
        f"{info.get('limit')} bytes accepted from a partner; it was not read.",
    )


def _explain_blocked(error: PartnerError, host: str, info: Mapping[str, Any]) -> tuple[str, str]:
    address = info.get("address") or host
    reason = info.get("reason") or "non-public"
    resolved = f"{host} resolves to {address}, " if address != host else f"{address} is "
    return (
        "Address not allowed",
        f"{resolved}a {reason} address. Requests may only go to public internet "
        "addresses, so that an integration cannot reach the platform's internal network.",
    )


def _explain_invalid_url(
    error: PartnerError, host: str, info: Mapping[str, Any]
) -> tuple[str, str]:
    return "Invalid URL", f"The URL cannot be used: {error.message}"


def _explain_invalid_request(
    error: PartnerError, host: str, info: Mapping[str, Any]
) -> tuple[str, str]:
    return "Request cannot be sent", f"The request cannot be sent as rendered: {error.message}"


def _explain_closed(error: PartnerError, host: str, info: Mapping[str, Any]) -> tuple[str, str]:
    return (
        "Connection closed",
        f"The connection to {host} was closed before a complete response arrived "
        f"({error.message}).",
    )


def _explain_connection_error(
    error: PartnerError, host: str, info: Mapping[str, Any]
) -> tuple[str, str]:
    return (
        "Connection failed",
        f"Could not connect to {host}: {error.message}.",
    )


def _explain_non_json(error: PartnerError, host: str, info: Mapping[str, Any]) -> tuple[str, str]:
    return (
        "Response is not JSON",
        f"This step needs to read a value from the response, but the body is not valid "
        f"JSON ({error.message}).",
    )


def _explain_list_id_missing(
    error: PartnerError, host: str, info: Mapping[str, Any]
) -> tuple[str, str]:
    return "List id not found", error.message


_EXPLAINERS = {
    "connection_refused": _explain_connection_refused,
    "dns_failure": _explain_dns_failure,
    "tls_error": _explain_tls_error,
    "timeout": _explain_timeout,
    "redirect": _explain_redirect,
    "too_large": _explain_too_large,
    "blocked_address": _explain_blocked,
    "invalid_url": _explain_invalid_url,
    "invalid_request": _explain_invalid_request,
    "connection_closed": _explain_closed,
    "connection_error": _explain_connection_error,
    "non_json": _explain_non_json,
    "list_id_missing": _explain_list_id_missing,
}
