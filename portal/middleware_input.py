"""Input no request may carry: the NUL character.

PostgreSQL stores U+0000 neither in text nor in jsonb, so a NUL that reaches a query is a
DataError and a 500. One middleware refuses it, with the parameter named, wherever a view
could pick it up without a parser of ours in between: the path, the query string and
form posts. JSON bodies are checked by the API's JSON parser (portal/api/parsers.py), and
JSON text inside a field or file (manifests, the editor's state) by the actions that store
it.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse, QueryDict
from django.http.multipartparser import MultiPartParserError

from syncengine.core.nul import NUL

API_PREFIX = "/api/"
FORM_CONTENT_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


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


def _bad_request(request: HttpRequest, message: str, field: str | None = None) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        # The API's error shape (portal/api/errors.py).
        body: dict = {"code": "invalid", "message": message}
        if field is not None:
            body["fields"] = {_shown(field): [message]}
        return JsonResponse({"error": body}, status=400)
    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")


class RefuseNulMiddleware:
    """Answers 400, naming the parameter, when the path, a query parameter or a form field
    (name or value) contains the NUL character."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            problem = nul_problem(request)
        except MultiPartParserError as error:
            # Reading the form here consumes the body, so a broken one is answered here too.
            return _bad_request(request, f"The form data could not be read: {error}")
        if problem is not None:
            field, message = problem
            return _bad_request(request, message, field)
        return self.get_response(request)
