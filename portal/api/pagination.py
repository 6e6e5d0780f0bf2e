"""Pages of API lists: `page` and `page_size` are whole numbers, or the request is a 400.

DRF's own pagination quietly falls back to the default size for a `page_size` it cannot
read (`null`, `ten`) and answers 404 for a `page` that is not a number; the schema says
both are integers, so anything else is refused like any other bad parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import QuerySet
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.views import APIView

from portal.errors import ActionError
from portal.params import MAX_ID, parse_id


class PagePagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_queryset(
        self,
        queryset: QuerySet[Any, Any] | Sequence[Any],
        request: Request,
        view: APIView | None = None,
    ) -> list[Any] | None:
        for name, maximum in (("page", None), (self.page_size_query_param, self.max_page_size)):
            raw = request.query_params.get(name)
            if raw is None:
                continue
            number = parse_id(raw)
            if number is None or number < 1 or (maximum is not None and number > maximum):
                limit = f"between 1 and {maximum}" if maximum else "1 or more"
                raise ActionError(f"{name} must be a whole number {limit}.", field=name)
        return super().paginate_queryset(queryset, request, view)

    def get_schema_operation_parameters(self, view: APIView) -> list[dict[str, Any]]:
        """The parameters as the schema shows them, with the bounds enforced above."""
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            parameter["schema"]["maximum"] = (
                self.max_page_size if parameter["name"] == self.page_size_query_param else MAX_ID
            )
        return parameters
