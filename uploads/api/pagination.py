from __future__ import annotations

from typing import Any

from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from uploads.api.envelope import success_body


class EnvelopePagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "pageSize"
    max_page_size = 100

    def get_paginated_response(self, data: Any) -> Response:
        page, request = self.page, self.request
        assert page is not None and request is not None  # set by paginate_queryset
        return Response(
            success_body(
                request,
                data,
                pagination={
                    "page": page.number,
                    "pageSize": page.paginator.per_page,
                    "total": page.paginator.count,
                    "totalPages": page.paginator.num_pages,
                    "next": self.get_next_link(),
                    "previous": self.get_previous_link(),
                },
            )
        )
