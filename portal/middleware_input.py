"""Input no request may carry: a body larger than its address accepts, and the NUL
character.

Sizes are judged by the declared Content-Length before anything reads the body
(`RefuseLargeBodiesMiddleware`, first in the chain): a request may carry at most
`DATA_UPLOAD_MAX_MEMORY_SIZE` bytes, and a view that takes a file says how large with
`accepts_upload` (a logo 1 MB, a cohort CSV 200 MB). Django's own limit counts form fields
only, never files, and the API's parsers read whatever they are sent, so without this a
50 MB "logo" would be received in full before being refused.

PostgreSQL stores U+0000 neither in text nor in jsonb, so a NUL that reaches a query is a
DataError and a 500. One middleware refuses it, with the parameter named, wherever a view
could pick it up without a parser of ours in between: the path, the query string and
form posts. JSON bodies are checked by the API's JSON parser (portal/api/parsers.py), and
JSON text inside a field or file (manifests, the editor's state) by the actions that store
it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse, QueryDict
from django.http.multipartparser import MultiPartParserError
from django.urls import Resolver404, resolve

from syncengine.core.nul import NUL

API_PREFIX = "/api/"
FORM_CONTENT_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
# Room for the other fields and the multipart framing around an uploaded file.
FORM_ALLOWANCE_BYTES = 64 * 1024

Marked = TypeVar("Marked")


def accepts_upload(max_file_bytes: int) -> Callable[[Marked], Marked]:
    """Let a view (a function or an API view class) receive a file of up to
    `max_file_bytes`, plus `FORM_ALLOWANCE_BYTES` for the form around it, instead of
    `DATA_UPLOAD_MAX_MEMORY_SIZE`."""

    def mark(view: Marked) -> Marked:
        view.max_body_bytes = max_file_bytes + FORM_ALLOWANCE_BYTES  # type: ignore[attr-defined]
        return view

    return mark


def body_limit(request: HttpRequest) -> int:
    """The most bytes a request to this address may carry."""
    default: int = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        view: Any = resolve(request.path_info).func
    except Resolver404:
        return default
    for holder in (view, getattr(view, "cls", None), getattr(view, "view_class", None)):
        limit = getattr(holder, "max_body_bytes", None)
        if isinstance(limit, int):
            return limit
    return default


def _size(count: int) -> str:
    if count >= 1024 * 1024:
        return f"{count / (1024 * 1024):,.1f} MB"
    return f"{count / 1024:,.0f} KB"


def _shown(name: str) -> str:
    return name.replace(NUL, "\\x00")


def _nul_parameter(params: QueryDict) -> str | None:
    """The name of the first parameter whose name or any value contains NUL."""
    for name, values in params.lists():
        if NUL in name or any(NUL in value for value in values):
            return name
    return None


def _message(name: str) -> str:
    return (
        f'The parameter "{_shown(name)}" contains a NUL character (\\x00), which is not '
        "allowed. Remove it and send the request again."
    )


def nul_parameter_message(params: QueryDict) -> str | None:
    """The refusal for form or query parameters with NUL in a name or value, or None."""
    name = _nul_parameter(params)
    return None if name is None else _message(name)


def nul_problem(request: HttpRequest) -> tuple[str | None, str] | None:
    """(parameter name or None for the path, message) for a request carrying NUL."""
    if NUL in request.path:
        return None, "The URL path contains a NUL character (\\x00), which is not allowed."
    name = _nul_parameter(request.GET)
    if name is None and request.method == "POST" and request.content_type in FORM_CONTENT_TYPES:
        name = _nul_parameter(request.POST)
    return None if name is None else (name, _message(name))


def _bad_request(
    request: HttpRequest,
    message: str,
    field: str | None = None,
    *,
    status: int = 400,
    code: str = "invalid",
) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        # The API's error shape (portal/api/errors.py).
        body: dict = {"code": code, "message": message}
        if field is not None:
            body["fields"] = {_shown(field): [message]}
        return JsonResponse({"error": body}, status=status)
    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8", status=status)


class RefuseLargeBodiesMiddleware:
    """Answers 413 when the declared Content-Length is over what the address accepts
    (`body_limit`), before anything reads the body."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if not declared.isascii() or not declared.isdigit():
            return _bad_request(request, "The Content-Length header is not a number of bytes.")
        size = int(declared)
        if size > FORM_ALLOWANCE_BYTES:
            limit = body_limit(request)
            if size > limit:
                return _bad_request(
                    request,
                    f"The request is {_size(size)}; this address accepts at most "
                    f"{_size(limit)}. Nothing was read or changed.",
                    status=413,
                    code="too_large",
                )
        return self.get_response(request)


class RefuseNulMiddleware:
    """Answers 400, naming the parameter, when the path, a query parameter or a form field
    (name or value) contains the NUL character."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            problem = nul_problem(request)
        except (MultiPartParserError, SuspiciousOperation) as error:
            # Reading the form here consumes the body, so a broken one (or one with more
            # fields than DATA_UPLOAD_MAX_NUMBER_FIELDS) is answered here too.
            return _bad_request(request, f"The form data could not be read: {error}")
        if problem is not None:
            field, message = problem
            return _bad_request(request, message, field)
        return self.get_response(request)
