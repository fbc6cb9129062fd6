"""Every response carries X-Request-ID: the client's when it is sane, a new one otherwise.
Every request logs one access line (``uploads.access``) with that id. The request is current
while it runs (``uploads.acting``): forms with an UploadField read who posts them from it."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse
from django.utils.functional import empty

from uploads.acting import in_request

SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
current_request_id: ContextVar[str] = ContextVar("uploads_request_id", default="-")

access_logger = logging.getLogger("uploads.access")


def request_id_of(request: HttpRequest) -> str:
    """The request's id, made on first use when the middleware is not installed."""
    rid = getattr(request, "request_id", None)
    if rid is None:
        # request.headers would build every header's name for this one.
        sent = request.META.get("HTTP_X_REQUEST_ID", "")
        rid = sent if SANE_REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex
        request.request_id = rid  # type: ignore[attr-defined]
    return rid


def _user_id(request: HttpRequest) -> str:
    user = getattr(request, "user", None)
    if user is None:
        return "-"
    # AuthenticationMiddleware's lazy user: when nothing in the request looked at it, reading
    # it now would cost a session query for a log line.
    if getattr(user, "_wrapped", None) is empty:
        return "-"
    pk = getattr(user, "pk", None)
    return "-" if pk is None else str(pk)


class RequestIDMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        rid = request_id_of(request)
        token = current_request_id.set(rid)
        try:
            with in_request(request):
                response = self.get_response(request)
            response["X-Request-ID"] = rid
            status = response.status_code
            level = logging.INFO if status < 400 else logging.WARNING
            if access_logger.isEnabledFor(level):
                ms = (time.perf_counter() - started) * 1000
                access_logger.log(
                    level,
                    "%s %s %s %.1fms user=%s",
                    request.method,
                    request.path,
                    status,
                    ms,
                    _user_id(request),
                    extra={"status_code": status, "duration_ms": round(ms, 1)},
                )
        finally:
            # Logged while the id is still current, so that the log filter can read it.
            current_request_id.reset(token)
        # Django's handler logs every answer >= 400 again once this returns (django.request,
        # "Not Found: /path"), outside the request id; the access line above already said it.
        # An uncaught exception was logged where it was caught, with its traceback.
        response._has_been_logged = True  # type: ignore[attr-defined]
        return response


class RequestIDLogFilter(logging.Filter):
    """Adds ``request_id`` to log records, for a format such as ``%(request_id)s``."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id.get()
        return True


class NoServerRequestLines(logging.Filter):
    """For ``django.server``: runserver's own line per request repeats the access line. Its
    other messages (a TLS handshake sent to it, a broken pipe) still pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        # http.server's format for its request line (BaseHTTPRequestHandler.log_request).
        return record.msg != '"%s" %s %s'
