"""Every error the API returns, in the contract's envelope: service refusals, DRF's own
exceptions, and anything unexpected (500, logged with the request id, no trace shown)."""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import set_rollback

from uploads import exceptions
from uploads.api.envelope import error_body, error_response
from uploads.api_mount import api_prefixes
from uploads.middleware import request_id_of

logger = logging.getLogger("uploads.api")

STATUS_FOR_CODE = {
    exceptions.InvalidType.code: 400,
    exceptions.InvalidContentType.code: 400,
    exceptions.InvalidSize.code: 400,
    exceptions.TooLarge.code: 400,
    exceptions.InvalidChecksum.code: 400,
    exceptions.QuotaExceeded.code: 429,
    exceptions.NotFound.code: 404,
    exceptions.NotUploaded.code: 409,
    exceptions.InvalidState.code: 409,
    exceptions.Expired.code: 410,
    exceptions.VerificationFailed.code: 422,
    exceptions.NotConfigured.code: 503,
    exceptions.StorageUnavailable.code: 503,
    exceptions.ServiceUnavailable.code: 503,
    exceptions.MultipartUnsupported.code: 400,
    exceptions.PartsMissing.code: 409,
    exceptions.InvalidParts.code: 400,
}
#: Worth trying again soon: these 503s carry Retry-After (seconds). A storage that is not
#: configured is not: that needs an operator.
RETRY_AFTER = {exceptions.StorageUnavailable.code: 5, exceptions.ServiceUnavailable.code: 5}
#: The database did not answer: refused a connection, dropped one mid-request, or stayed
#: locked (SQLite). Not its other errors (an IntegrityError is a bug, not an outage).
DATABASE_DOWN = (OperationalError, InterfaceError)


class UploadRefused(drf.APIException):
    """An UploadError raised where DRF expects its own exceptions (a serializer field's
    ``to_internal_value``, say). ``exception_handler`` answers it exactly as the UploadError;
    DRF's default handler still gives the error's status, with its message as the detail."""

    def __init__(self, error: exceptions.UploadError) -> None:
        super().__init__(detail=error.message, code=error.code)
        self.error = error
        self.status_code = STATUS_FOR_CODE.get(error.code, 400)


class RateLimited(drf.APIException):
    status_code = 429
    default_detail = "Too many requests. Try again later."
    default_code = "rate_limited"

    def __init__(self, retry_after: int, headers: dict[str, str]) -> None:
        super().__init__()
        self.retry_after = retry_after
        self.headers = headers


def _validation_details(detail: Any, path: str = "") -> list[dict[str, str]]:
    if isinstance(detail, dict):
        return [
            item
            for key, value in detail.items()
            for item in _validation_details(value, f"{path}.{key}" if path else str(key))
        ]
    if isinstance(detail, list):
        if all(isinstance(d, drf.ErrorDetail) for d in detail):
            return [{"field": path or "body", "code": d.code, "message": str(d)} for d in detail]
        return [
            item
            for i, value in enumerate(detail)
            for item in _validation_details(value, f"{path}[{i}]")
        ]
    return [
        {
            "field": path or "body",
            "code": getattr(detail, "code", "invalid"),
            "message": str(detail),
        }
    ]


def _drf_error(exc: drf.APIException) -> tuple[int, str, str, list[Any]]:
    if isinstance(exc, (drf.ValidationError, drf.ParseError)):
        details = _validation_details(exc.detail)
        return 400, "validation.failed", "The request body is not valid.", details
    if isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
        return exc.status_code, "auth.unauthorized", "Authentication is required.", []
    if isinstance(exc, drf.PermissionDenied):
        return 403, "auth.forbidden", str(exc.detail), []
    if isinstance(exc, drf.NotFound):
        return 404, "not_found", "Not found.", []
    if isinstance(exc, drf.MethodNotAllowed):
        return 405, "method_not_allowed", str(exc.detail), []
    if isinstance(exc, drf.UnsupportedMediaType):
        return 415, "validation.unsupported_media_type", "Send the body as application/json.", []
    if isinstance(exc, drf.NotAcceptable):
        return 406, "not_acceptable", "Only application/json is served.", []
    if isinstance(exc, (RateLimited, drf.Throttled)):
        return 429, "rate_limited", "Too many requests. Try again later.", []
    return exc.status_code, "server.error", str(exc.detail), []


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER."""
    request = context["request"]
    headers: dict[str, str] = {}
    vars: dict[str, Any] = {}
    if isinstance(exc, (exceptions.UploadError, UploadRefused)):
        error = exc.error if isinstance(exc, UploadRefused) else exc
        status, code, message, details = (
            STATUS_FOR_CODE.get(error.code, 400),
            error.code,
            error.message,
            error.details,
        )
        vars = error.vars
        if code in RETRY_AFTER:
            headers["Retry-After"] = str(RETRY_AFTER[code])
            vars = {**vars, "retryAfter": RETRY_AFTER[code]}
        # A refused body field (UploadRefused) names an upload, not the view's own thing.
        view = context.get("view")
        if code == exceptions.NotFound.code and view is not None and error is exc:
            code = getattr(view, "not_found_code", code)
    elif isinstance(exc, (Http404, drf.NotFound)):  # drf.NotFound: a page past the last
        status, code, message, details = (
            404,
            getattr(context.get("view"), "not_found_code", "not_found"),
            "Not found.",
            [],
        )
    elif isinstance(exc, DATABASE_DOWN):
        status, code, message, details = _database_down(request, exc)
        headers["Retry-After"] = str(RETRY_AFTER[code])
    elif isinstance(exc, RequestDataTooBig):
        status, code, message, details = (
            413,
            "request.too_large",
            "The request body is larger than the server reads.",
            [],
        )
    elif isinstance(exc, PermissionDenied):
        status, code, message, details = 403, "auth.forbidden", "You may not do this.", []
    elif isinstance(exc, drf.APIException):
        status, code, message, details = _drf_error(exc)
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
        if isinstance(exc, RateLimited):
            headers |= exc.headers
            headers["Retry-After"] = str(exc.retry_after)
            vars = {"retryAfter": exc.retry_after}
        elif isinstance(exc, drf.Throttled):
            # Throttled.__init__ sets wait; the stubs do not declare it.
            wait: float | None = exc.wait  # type: ignore[attr-defined]
            if wait:
                headers["Retry-After"] = str(int(wait))
    else:
        logger.error(
            "Unhandled error in %s %s [request %s]",
            request.method,
            request.path,
            request_id_of(request),
            exc_info=exc,
        )
        status, code, message, details = (
            500,
            "server.error",
            "Something went wrong on our side.",
            [],
        )
    set_rollback()
    return Response(
        error_body(request, code, message, vars=vars, details=details),
        status=status,
        headers=headers,
    )


def _database_down(request: HttpRequest, exc: BaseException) -> tuple[int, str, str, list[Any]]:
    logger.warning(
        "Database unavailable in %s %s [request %s]: %s",
        request.method,
        request.path,
        request_id_of(request),
        exc,
    )
    error = exceptions.ServiceUnavailable()
    return 503, error.code, error.message, []


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(tuple(api_prefixes()))


# Opt-in handlers for the project's urls.py (``handler404 = "uploads.api.errors.json_404"``):
# paths under the uploads API's mount get the envelope, the rest Django's own pages.


def json_404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return error_response(request, 404, "not_found", "There is nothing at this address.")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception or Http404())


def json_500(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        # Django calls this while handling the exception (raised outside DRF's views, in a
        # middleware say): a database that did not answer is a 503 to retry here too.
        exc = sys.exc_info()[1]
        if isinstance(exc, DATABASE_DOWN):
            status, code, message, _ = _database_down(request, exc)
            response = error_response(request, status, code, message)
            response["Retry-After"] = str(RETRY_AFTER[code])
            return response
        return error_response(request, 500, "server.error", "Something went wrong on our side.")
    from django.views.defaults import server_error

    return server_error(request)


def json_400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return error_response(request, 400, "validation.failed", "The request is not valid.")
    from django.views.defaults import bad_request

    return bad_request(request, exception or Exception())


def json_403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return error_response(request, 403, "auth.forbidden", "You may not do this.")
    from django.views.defaults import permission_denied

    return permission_denied(request, exception or PermissionDenied())
