"""The local signer's endpoints, standing in for a storage provider during development:
the signed PUT that receives a file, the signed GET for downloads, and the public files."""

from __future__ import annotations

from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header
from django.views.decorators.csrf import csrf_exempt

from uploads import content_types
from uploads.api.envelope import error_response, success_body
from uploads.models import Upload, Variant
from uploads.signers import SignerNotConfigured, get_signer
from uploads.signers.local import LocalSigner, Refused, read_download_token, read_upload_token


def _local_signer(alias: str) -> LocalSigner:
    signer = get_signer(alias)
    if not isinstance(signer, LocalSigner):
        raise Refused(403, "upload.signature_invalid", "This storage does not take local uploads.")
    return signer


def _not_configured(request: HttpRequest) -> HttpResponse:
    return error_response(
        request, 503, "upload.not_configured", "This storage is not configured on the server."
    )


@csrf_exempt
def receive_upload(request: HttpRequest, token: str) -> HttpResponse:
    if request.method != "PUT":
        return error_response(request, 405, "method_not_allowed", "Send the file with PUT.")
    length = request.META.get("CONTENT_LENGTH")
    if length and not (length.isascii() and length.isdigit()):
        # str.isdigit() takes "²" and "١٢", which int() refuses or reads.
        return error_response(
            request, 400, "validation.failed", "Content-Length must be a number of bytes."
        )
    try:
        grant = read_upload_token(token)
        signer = _local_signer(grant.alias)
        if (
            grant.upload_id
            and not Upload.objects.filter(pk=grant.upload_id, status=Upload.Status.PENDING).exists()
        ):
            raise Refused(409, "upload.invalid_state", "This upload no longer takes a file.")
        stored = signer.receive(
            grant,
            content_type=request.META.get("CONTENT_TYPE", ""),
            length=length,
            body=request,
        )
    except Refused as refusal:
        return error_response(request, refusal.status, refusal.code, refusal.message)
    except SignerNotConfigured:
        return _not_configured(request)
    response = JsonResponse(
        success_body(request, {"key": grant.key, "size": stored.size, "sha256": stored.sha256})
    )
    response["ETag"] = f'"{stored.sha256}"'
    return response


def _serve(
    signer: LocalSigner, key: str, content_type: str, attachment_name: str | None
) -> FileResponse:
    response = FileResponse(signer.storage.open(key, "rb"), content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    if attachment_name:
        response["Content-Disposition"] = content_disposition_header(True, attachment_name)
    return response


def download(request: HttpRequest, token: str) -> HttpResponseBase:
    if request.method not in ("GET", "HEAD"):
        return error_response(request, 405, "method_not_allowed", "Use GET.")
    try:
        claims = read_download_token(token)
        signer = _local_signer(claims["a"])
    except Refused as refusal:
        return error_response(request, refusal.status, refusal.code, refusal.message)
    except SignerNotConfigured:
        return _not_configured(request)
    if not signer.storage.exists(claims["k"]):
        return error_response(request, 404, "not_found", "The file is gone.")
    return _serve(signer, claims["k"], claims["ct"], claims["n"])


def public_file(request: HttpRequest, key: str) -> HttpResponseBase:
    """A completed public upload, or a variant made of one, as a public bucket would serve
    it."""
    upload = (
        Upload.objects.filter(key=key, status=Upload.Status.COMPLETED, is_public=True)
        .only("key", "storage", "verified_content_type")
        .first()
    )
    if upload is None:
        return public_variant(request, key)
    try:
        signer = _local_signer(upload.storage) if upload else None
    except (Refused, SignerNotConfigured):
        signer = None
    if upload is None or signer is None or not signer.storage.exists(key):
        return error_response(request, 404, "not_found", "There is no public file here.")
    content_type = upload.verified_content_type
    attachment = None if content_types.is_raster_image(content_type) else key.rsplit("/", 1)[-1]
    return _serve(signer, key, content_type, attachment)


def public_variant(request: HttpRequest, key: str) -> HttpResponseBase:
    variant = (
        Variant.objects.filter(
            key=key,
            status=Variant.Status.READY,
            upload__status=Upload.Status.COMPLETED,
            upload__is_public=True,
        )
        .select_related("upload")
        .only("key", "content_type", "upload__storage")
        .first()
    )
    try:
        signer = _local_signer(variant.upload.storage) if variant else None
    except (Refused, SignerNotConfigured):
        signer = None
    if variant is None or signer is None or not signer.storage.exists(key):
        return error_response(request, 404, "not_found", "There is no public file here.")
    return _serve(signer, key, variant.content_type, None)
