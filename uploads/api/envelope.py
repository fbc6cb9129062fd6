"""The contract's success and error bodies."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse

from uploads.middleware import request_id_of


def success_body(request: HttpRequest, data: Any, **meta: Any) -> dict[str, Any]:
    return {"success": True, "data": data, "meta": {"requestId": request_id_of(request), **meta}}


def error_body(
    request: HttpRequest,
    code: str,
    message: str,
    *,
    vars: dict[str, Any] | None = None,
    details: list[Any] | None = None,
) -> dict[str, Any]:
    return {
        "success": False,
        "error": {
            "code": code,
            "message": message,
            "i18nKey": f"error.{code}",
            "i18nVars": vars or {},
            "details": details or [],
            "correlationId": request_id_of(request),
        },
    }


def error_response(
    request: HttpRequest, status: int, code: str, message: str, **kwargs: Any
) -> JsonResponse:
    response = JsonResponse(error_body(request, code, message, **kwargs), status=status)
    response["X-Request-ID"] = request_id_of(request)
    return response
