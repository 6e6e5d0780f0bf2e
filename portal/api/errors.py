"""One error shape for the whole API: {"error": {"code", "message", "fields"?, "details"?}}."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from portal.errors import ActionError


def _first_message(detail: object) -> str:
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    if isinstance(detail, dict) and detail:
        key, value = next(iter(detail.items()))
        message = _first_message(value)
        return message if key in {"non_field_errors", "detail"} else f"{key}: {message}"
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ActionError):
        body: dict[str, Any] = {"code": exc.code, "message": exc.message}
        if exc.field:
            body["fields"] = {exc.field: [exc.message]}
        if exc.details:
            body["details"] = exc.details
        return Response({"error": body}, status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data
    body = {"code": getattr(exc, "default_code", "error"), "message": _first_message(detail)}
    if isinstance(exc, exceptions.ValidationError) and isinstance(detail, dict):
        body["fields"] = detail
        body["code"] = "invalid"
    response.data = {"error": body}
    if response.status_code == status.HTTP_401_UNAUTHORIZED:
        response.data["error"]["code"] = "not_authenticated"
    return response
