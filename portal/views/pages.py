"""Shared page helpers: pagination and action error handling."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest

PAGE_SIZE = 25


def paginate[Row](
    request: HttpRequest,
    queryset: QuerySet[Any, Row] | Sequence[Row],
    per_page: int = PAGE_SIZE,
    parameter: str = "page",
) -> Page[Row]:
    """A page of `queryset` from `?page=` (or another `parameter`); an out-of-range or junk
    page gives the last/first."""
    paginator = Paginator(queryset, per_page)
    return paginator.get_page(request.GET.get(parameter))


def query_without_page(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()
