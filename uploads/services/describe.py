"""The facts complete records about a verified object at its key (uploads.facts): from the
bytes it already read for images, a bounded read of a PDF's head and tail, ffprobe over a
signed URL for videos. Never a reason to refuse the file."""

from __future__ import annotations

from dataclasses import asdict, fields

from uploads import content_types, video_probe
from uploads.app_settings import app_settings
from uploads.facts import Facts, image_facts, pdf_page_count
from uploads.models import Upload
from uploads.services.signing import provider_errors, signer_for
from uploads.signers import Signer

#: Bytes read from each end of a PDF to find its page tree.
PDF_WINDOW = 64 * 1024
#: The Upload fields that hold the facts.
FACT_FIELDS = tuple(field.name for field in fields(Facts))


def describe(upload: Upload, size: int, whole: bytes | None) -> Facts:
    """The facts of the object at ``upload.key``, ``size`` bytes; ``whole`` is its bytes
    where complete read them (decoded images)."""
    mime = upload.content_type
    pillow_format = content_types.pillow_format(mime)
    if pillow_format is not None:
        return image_facts(whole, pillow_format) if whole is not None else Facts()
    signer = signer_for(upload.storage)
    if mime == "application/pdf":
        with provider_errors():
            return Facts(page_count=pdf_page_count(_ends(signer, upload.key, size)))
    demuxer = content_types.probe_format(mime)
    if demuxer is not None:
        binary = video_probe.ffprobe()
        target = _probe_target(signer, upload) if binary else None
        if binary and target:
            with provider_errors():
                # Within a request, no longer than what is left of its storage deadline.
                timeout = signer.deadline_bound(app_settings.PROBE_TIMEOUT)
            return video_probe.probe(binary, target, demuxer, timeout)
    return Facts()


def record(upload: Upload, facts: Facts) -> None:
    """Set the facts on the upload (saved with it)."""
    for name, value in asdict(facts).items():
        setattr(upload, name, value)


def _ends(signer: Signer, key: str, size: int) -> bytes:
    if size <= 2 * PDF_WINDOW:
        return signer.read_head(key, size)
    head = signer.read_head(key, PDF_WINDOW)
    return head + b"\n" + signer.read_range(key, size - PDF_WINDOW, PDF_WINDOW)


def _probe_target(signer: Signer, upload: Upload) -> str | None:
    """A local path where the storage has one, else a signed download URL (None when the
    signer gives no absolute one)."""
    try:
        return str(signer.storage.path(upload.key))
    except (NotImplementedError, AttributeError):
        pass
    with provider_errors():
        url = signer.presign_download(
            upload.key,
            expires_in=int(app_settings.PROBE_TIMEOUT) + 60,
            content_type=upload.content_type,
            attachment_name=None,
        )
    return url if url.startswith(("http://", "https://")) else None
