"""Shared page helpers: pagination and action error handling."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest

PAGE_SIZE = 25


def paginate(request: HttpRequest, queryset, per_page: int = PAGE_SIZE, parameter: str = "page"):
    """A page of `queryset` from `?page=` (or another `parameter`); an out-of-range or junk
    page gives the last/first."""
    paginator = Paginator(queryset, per_page)
    return paginator.get_page(request.GET.get(parameter))


def query_without_page(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()
