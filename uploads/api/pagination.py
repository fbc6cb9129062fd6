from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView

from uploads.api.envelope import success_body


class PageQuery(serializers.Serializer):
    page = serializers.IntegerField(required=False, min_value=1, default=1)
    pageSize = serializers.IntegerField(required=False, min_value=1, max_value=100)


class EnvelopePagination(PageNumberPagination):
    """``?page=`` (from 1) and ``?pageSize=`` (1 to 100), refused with 400
    ``validation.failed`` otherwise. A page past the last is empty, with the pagination
    meta saying how many there are: the list changes under a client paging through it."""

    page_size = 20
    page_size_query_param = "pageSize"
    max_page_size = 100

    def paginate_queryset(
        self,
        queryset: QuerySet[Any, Any] | Sequence[Any],
        request: Request,
        view: APIView | None = None,
    ) -> list[Any]:
        query = PageQuery(
            data={k: v for k, v in request.query_params.items() if k in PageQuery().fields}
        )
        query.is_valid(raise_exception=True)
        size = query.validated_data.get("pageSize", self.page_size)
        number = query.validated_data["page"]
        paginator = Paginator(queryset, size)
        self.request = request
        if number > paginator.num_pages:
            self.page = Page([], number, paginator)  # past the last: empty
            return []
        self.page = paginator.page(number)
        return list(self.page)

    def get_next_link(self) -> str | None:
        assert self.page is not None and self.request is not None
        if self.page.number >= self.page.paginator.num_pages:
            return None
        url = self.request.build_absolute_uri()
        return replace_query_param(url, self.page_query_param, self.page.number + 1)

    def get_previous_link(self) -> str | None:
        assert self.page is not None and self.request is not None
        if self.page.number <= 1:
            return None
        # Past the last page, the previous one is the last.
        previous = min(self.page.number - 1, self.page.paginator.num_pages)
        url = self.request.build_absolute_uri()
        if previous == 1:
            return remove_query_param(url, self.page_query_param)
        return replace_query_param(url, self.page_query_param, previous)

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
