"""The development signer: uploads go to the app's own PUT endpoint, which streams them
into any Django storage (FileSystemStorage by default).

Tokens are Django-signed (HMAC-SHA256 with SECRET_KEY) and bind the key, content type,
exact size or cap, sha256 and expiry. The endpoint enforces every one of them, so the
local flow refuses what S3 refuses.

A multipart upload keeps its parts in a directory beside the staging key
(``<staging key>.parts/<multipart id>/``); a part's token binds its number, offset and exact
size. On a storage with files on disk (FileSystemStorage) each part is written at its offset
into one file there, which complete renames to the key the upload assembles at
(uploads.signers.local_parts); on another, each part is a file of its own, which complete
concatenates, streaming, into that key. Either way a part's token writes only in the parts'
directory, so nothing can write the assembled object, and complete removes the directory.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import hmac
import io
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import IO, Any, Protocol

from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile, File
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.urls import get_resolver, get_script_prefix, get_urlconf, reverse

from uploads import signed_values
from uploads.app_settings import app_settings
from uploads.keys import staging_key
from uploads.signers import local_parts
from uploads.signers.base import (
    ObjectHeaders,
    PresignedUpload,
    Signer,
    SignerError,
    SignerNotConfigured,
    StoredObject,
    StoredPart,
    UploadSpec,
)

UPLOAD_SALT = "uploads.local.put"
DOWNLOAD_SALT = "uploads.local.get"


class Readable(Protocol):
    """A request body to stream: a file, or Django's HttpRequest itself."""

    def read(self, size: int, /) -> bytes: ...


class Refused(Exception):
    """The local endpoint refuses a request, as a storage provider would."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class UploadGrant:
    alias: str
    key: str
    content_type: str | None  # None for a part: any type
    size: int | None
    max_size: int
    sha256: str | None
    upload_id: str | None
    part: int | None = None  # a multipart upload's part: ``key`` is the part's file
    offset: int | None = None  # where the part begins in the assembled file


def _read_token(token: str, salt: str) -> dict[str, Any]:
    try:
        claims = signing.loads(token, salt=salt)
    except signing.BadSignature as err:
        raise Refused(403, "upload.signature_invalid", "The URL's signature is not valid.") from err
    if not isinstance(claims, dict) or claims.get("exp", 0) < time.time():
        raise Refused(403, "upload.url_expired", "The URL has expired.")
    return claims


def read_upload_token(token: str) -> UploadGrant:
    c = _read_token(token, UPLOAD_SALT)
    return UploadGrant(
        c["a"], c["k"], c["ct"], c["s"], c["m"], c["h"], c.get("u"), c.get("p"), c.get("o")
    )


def read_download_token(token: str) -> dict[str, Any]:
    return _read_token(token, DOWNLOAD_SALT)


def parts_dir(key: str, multipart_id: str) -> str:
    """Where the parts of the multipart upload ``multipart_id`` of ``key`` are kept: under
    the staging prefix even when it assembles at the upload's key, so that a part URL, live
    until it expires, never writes beside a key that is served."""
    staging = key if Signer.is_staging(key) else staging_key(key)
    return f"{staging}.parts/{multipart_id}"


def part_name(key: str, multipart_id: str, number: int) -> str:
    return f"{parts_dir(key, multipart_id)}/{number:05d}"


class _Concatenated(io.RawIOBase):
    """The parts' files read one after the other, a chunk at a time."""

    def __init__(self, files: Iterator[IO[bytes]]) -> None:
        super().__init__()
        self._files = files
        self._current: IO[bytes] | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while True:
            if self._current is None:
                self._current = next(self._files, None)
                if self._current is None:
                    return 0
            data = self._current.read(len(buffer))
            if data:
                buffer[: len(data)] = data
                return len(data)
            self._current.close()
            self._current = None


_TOKEN = "__token__"


def _token_url(name: str, token: str) -> str:
    """``reverse(name, args=[token])`` for a URL that ends with a signed token (URL-safe
    base64 and ":", which reverse leaves as they are), reversed once per URLconf and script
    prefix: presign signs one on every request."""
    return _before_token(get_resolver(get_urlconf()), get_script_prefix(), name) + token


@lru_cache(maxsize=32)
def _before_token(resolver: Any, prefix: str, name: str) -> str:
    url = reverse(name, args=[_TOKEN], urlconf=resolver.urlconf_name)
    assert url.endswith(_TOKEN), url
    return url.removesuffix(_TOKEN)


class LocalSigner(Signer):
    supports_multipart = True
    assembles_at_key = True

    def __init__(self, alias: str, storage: Any) -> None:
        if not settings.DEBUG and not app_settings.LOCAL_ALLOW_WITHOUT_DEBUG:
            raise SignerNotConfigured(
                f"Storage '{alias}' uses the local development signer, which refuses to run "
                "with DEBUG off. Use a cloud storage, or set "
                "UPLOADS = {'LOCAL_ALLOW_WITHOUT_DEBUG': True} to accept the risk."
            )
        super().__init__(alias, storage)

    def presign_upload(self, spec: UploadSpec) -> PresignedUpload:
        claims = {
            "a": self.alias,
            "k": spec.key,
            "ct": spec.content_type,
            "s": spec.size,
            "m": spec.max_size,
            "h": spec.sha256,
            "u": spec.metadata.get("upload-id"),
            "exp": int(spec.expires_at.timestamp()),
        }
        token = signed_values.dumps(claims, UPLOAD_SALT)
        headers = {"Content-Type": spec.content_type}
        if spec.size is not None:
            headers["Content-Length"] = str(spec.size)
        return PresignedUpload(url=_token_url("uploads:local-put", token), headers=headers)

    def presign_download(
        self, key: str, *, expires_in: int, content_type: str, attachment_name: str | None
    ) -> str:
        claims = {
            "a": self.alias,
            "k": key,
            "ct": content_type,
            "n": attachment_name,
            "exp": int(time.time()) + expires_in,
        }
        return _token_url("uploads:local-get", signed_values.dumps(claims, DOWNLOAD_SALT))

    def public_url(self, key: str) -> str:
        if app_settings.PUBLIC_BASE_URL:
            return super().public_url(key)
        return reverse("uploads:local-file", args=[key])

    def anonymous_url(self, key: str) -> str:
        return reverse("uploads:local-file", args=[key])

    def stat(self, key: str) -> StoredObject | None:
        if not self.storage.exists(key):
            return None
        return StoredObject(size=self.storage.size(key), sha256=self.compute_sha256(key))

    def read_head(self, key: str, length: int) -> bytes:
        with self.storage.open(key, "rb") as fh:
            return fh.read(length)

    def read_object(self, key: str, length: int) -> tuple[StoredObject, bytes] | None:
        """One open, and no hashing (``stat`` reads the whole file for its sha256): complete
        hashes what it read whole, and asks for the sha256 of anything else."""
        if not self.storage.exists(key):
            return None
        with self.storage.open(key, "rb") as fh:
            return StoredObject(size=fh.size), bytes(fh.read(length))

    def promote(self, staging_key: str, key: str, headers: ObjectHeaders) -> None:
        """Link the file to its key on a storage with files on disk (nothing writes into a
        staged file, so the two names keep the same bytes), else copy it. The endpoints
        serve it with the upload's recorded type, so no headers are stored with it."""
        try:
            if self.storage.exists(key):  # a copy whose completion was rolled back
                self.storage.delete(key)
            if self._linked(staging_key, key):
                return
            with self.storage.open(staging_key, "rb") as source:
                saved_as = self.storage.save(key, source)
        except OSError as err:
            raise SignerError(f"Could not copy {staging_key} to {key}: {err}") from err
        if saved_as != key:
            self.storage.delete(saved_as)
            raise SignerError(f"Could not copy to {key}: another file took its name.")

    def write(self, key: str, data: bytes, headers: ObjectHeaders) -> None:
        """Save the bytes under the key; served, as a copy is, with the recorded type. On a
        storage with files on disk, written beside it and renamed over it (whatever a
        completion that rolled back left there), without the storage's search for a free
        name."""
        target = self._disk_path(key)
        if target is not None:
            try:
                _replace(target, data, getattr(self.storage, "file_permissions_mode", None))
            except OSError as err:
                raise SignerError(f"Could not write {key}: {err}") from err
            return
        try:
            if self.storage.exists(key):  # left by a completion that was rolled back
                self.storage.delete(key)
            saved_as = self.storage.save(key, ContentFile(data))
        except OSError as err:
            raise SignerError(f"Could not write {key}: {err}") from err
        if saved_as != key:
            self.storage.delete(saved_as)
            raise SignerError(f"Could not write {key}: another file took its name.")

    def delete(self, key: str) -> None:
        try:
            self.storage.delete(key)
        except OSError as err:
            raise SignerError(f"Could not delete {key}: {err}") from err

    # --- multipart uploads ------------------------------------------------------------

    def create_multipart(self, spec: UploadSpec) -> str:
        """Nothing to create: the directory appears with the first part."""
        return secrets.token_hex(16)

    def presign_part(
        self, spec: UploadSpec, multipart_id: str, part_number: int, size: int
    ) -> PresignedUpload:
        claims = {
            "a": self.alias,
            "k": part_name(spec.key, multipart_id, part_number),
            "ct": None,  # a part is bytes, whatever type the client labels them
            "s": size,
            "m": size,
            "h": None,
            "u": spec.metadata.get("upload-id"),
            "p": part_number,
            "o": spec.part_offset,
            "exp": int(spec.expires_at.timestamp()),
        }
        token = signed_values.dumps(claims, UPLOAD_SALT)
        return PresignedUpload(
            url=reverse("uploads:local-put", args=[token]), headers={"Content-Length": str(size)}
        )

    def list_parts(self, key: str, multipart_id: str) -> list[StoredPart]:
        on_disk = self._disk_path(parts_dir(key, multipart_id))
        if on_disk is not None:
            try:
                records = local_parts.list_records(on_disk)
            except OSError as err:
                raise SignerError(f"Could not list the parts of {key}: {err}") from err
            return [StoredPart(r.number, r.size, r.sha256) for r in records]
        directory = parts_dir(key, multipart_id)
        try:
            _, files = self.storage.listdir(directory)
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as err:
            raise SignerError(f"Could not list the parts of {key}: {err}") from err
        parts = []
        for name in files:
            if not (name.isascii() and name.isdigit()):
                continue  # not a part (a temporary file of the storage's)
            size = self.storage.size(f"{directory}/{name}")
            parts.append(StoredPart(int(name), size, f"{int(name)}:{size}"))
        return sorted(parts, key=lambda p: p.number)

    def complete_multipart(self, key: str, multipart_id: str, parts: list[StoredPart]) -> None:
        """Rename the file the parts were written into to ``key``; on a storage without
        files on disk, concatenate the parts into ``key`` in constant memory. Then drop
        the parts."""
        directory = parts_dir(key, multipart_id)
        on_disk = self._disk_path(directory)
        if on_disk is None:
            self._concatenate(key, multipart_id, parts)
            return
        try:
            local_parts.assemble(
                on_disk, self.storage.path(key), [(p.number, p.size, p.etag) for p in parts]
            )
            mode = getattr(self.storage, "file_permissions_mode", None)
            if mode is not None:
                os.chmod(self.storage.path(key), mode)
        except (OSError, local_parts.Ended, local_parts.PartsChanged) as err:
            raise SignerError(f"Could not assemble {key}: {err}") from err
        self._remove_empty_dirs([directory, directory.rsplit("/", 1)[0]])

    def _concatenate(self, key: str, multipart_id: str, parts: list[StoredPart]) -> None:
        names = [part_name(key, multipart_id, part.number) for part in parts]
        try:
            if self.storage.exists(key):  # assembled by a completion that rolled back
                self.storage.delete(key)
            parts_read = _Concatenated(self.storage.open(n, "rb") for n in names)
            content = File(io.BufferedReader(parts_read, app_settings.CHUNK_SIZE), key)
            saved_as = self.storage.save(key, content)
        except OSError as err:
            raise SignerError(f"Could not assemble {key}: {err}") from err
        if saved_as != key:
            self.storage.delete(saved_as)
            raise SignerError(f"Could not assemble {key}: another file took its name.")
        self.abort_multipart(key, multipart_id)

    def abort_multipart(self, key: str, multipart_id: str) -> None:
        directory = parts_dir(key, multipart_id)
        try:
            on_disk = self._disk_path(directory)
            if on_disk is not None:
                local_parts.remove(on_disk)
            try:
                _, files = self.storage.listdir(directory)
            except (FileNotFoundError, NotADirectoryError):
                files = []
            for name in files:
                self.storage.delete(f"{directory}/{name}")
            self._remove_empty_dirs([directory, directory.rsplit("/", 1)[0]])
        except OSError as err:
            raise SignerError(f"Could not remove the parts of {key}: {err}") from err

    def _linked(self, name: str, new_name: str) -> bool:
        """Whether ``new_name`` was made a hard link to ``name``: not where the storage keeps
        no files on disk, nor across file systems or on one without links."""
        source, target = self._disk_path(name), self._disk_path(new_name)
        if source is None or target is None:
            return False
        os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            os.link(source, target)
        except OSError as err:
            if err.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                raise
            return False
        return True

    def _disk_path(self, name: str) -> str | None:
        """Where ``name`` lies on disk; None for a storage that keeps no files there (one
        with a ``path()`` may still not: InMemoryStorage)."""
        if not isinstance(self.storage, FileSystemStorage):
            return None
        return str(self.storage.path(name))

    def _remove_empty_dirs(self, names: list[str]) -> None:
        """Directories on disk do not go with their last file."""
        for name in names:
            try:
                path = self.storage.path(name)
            except NotImplementedError:  # a storage without directories on disk
                return
            try:
                os.rmdir(path)
            except FileNotFoundError:
                pass
            except OSError:  # not empty: another multipart upload of the key, or a part
                return  # arriving right now, which the sweep removes later

    def receive(
        self, grant: UploadGrant, content_type: str, length: str | None, body: Readable
    ) -> StoredObject:
        """Check a PUT against its grant, stream the body and store it under the key.

        The body goes to a temporary file while it is counted and hashed, and reaches the
        storage only when it is whole and matches, so a refused upload leaves nothing. A part
        on a storage with files on disk is written in place, and listed once it is whole.
        """
        if grant.content_type is not None and content_type.strip().lower() != grant.content_type:
            raise Refused(
                403,
                "upload.signature_mismatch",
                f"Content-Type must be exactly {grant.content_type}, as signed.",
            )
        if not length or not length.isdigit():
            raise Refused(411, "upload.length_required", "Send the body with a Content-Length.")
        declared = int(length)
        if grant.size is not None and declared != grant.size:
            raise Refused(
                403,
                "upload.signature_mismatch",
                f"Content-Length must be exactly {grant.size}, as signed.",
            )
        if declared > grant.max_size:
            raise Refused(413, "upload.too_large", f"The body exceeds {grant.max_size} bytes.")
        if declared == 0:
            raise Refused(400, "upload.invalid_size", "The body is empty.")
        if grant.part is None and self.storage.exists(grant.key):
            raise Refused(409, "upload.already_exists", "An object already exists at this key.")

        if grant.part is not None and grant.offset is not None:
            on_disk = self._disk_path(grant.key.rsplit("/", 1)[0])
            if on_disk is not None:
                return _received_in_place(on_disk, grant.part, grant.offset, declared, body)
        with TemporaryUploadedFile(
            grant.key.rsplit("/", 1)[-1], grant.content_type, declared, None
        ) as tmp:
            sha256 = _streamed(body, declared, grant.sha256, tmp.write)
            tmp.seek(0)
            if grant.part is not None and self.storage.exists(grant.key):
                self.storage.delete(grant.key)  # a part sent again replaces the first
            saved_as = self.storage.save(grant.key, tmp)
        if saved_as != grant.key:
            # Another request stored the key first; the storage picked a new name for ours.
            self.storage.delete(saved_as)
            raise Refused(409, "upload.already_exists", "An object already exists at this key.")
        return StoredObject(size=declared, content_type=grant.content_type, sha256=sha256)


def _received_in_place(
    directory: str, number: int, offset: int, declared: int, body: Readable
) -> StoredObject:
    """A part written at its offset in the file its upload assembles in, listed once whole."""
    try:
        with local_parts.writing_part(directory, number, offset) as part:
            sha256 = _streamed(body, declared, None, part.write)
            part.arrived(sha256)
    except local_parts.Ended as err:
        raise Refused(409, "upload.invalid_state", "This upload no longer takes a file.") from err
    return StoredObject(size=declared, sha256=sha256)


def _replace(path: str, data: bytes, mode: int | None) -> None:
    """Put a file holding ``data`` at ``path`` in one rename, replacing any there."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = f"{path}.{secrets.token_hex(8)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(temporary, flags, 0o666)  # as FileSystemStorage creates its files
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _streamed(
    body: Readable, declared: int, expected_sha256: str | None, write: Callable[[bytes], Any]
) -> str:
    """Pass the body to ``write`` a chunk at a time, refusing it (Refused) unless it is
    exactly ``declared`` bytes with the expected sha256; returns its sha256 (base64)."""
    digest = hashlib.sha256()
    received = 0
    for chunk in iter(lambda: body.read(app_settings.CHUNK_SIZE), b""):
        received += len(chunk)
        if received > declared:
            raise Refused(413, "upload.too_large", "The body is longer than Content-Length.")
        digest.update(chunk)
        write(chunk)
    if received != declared:
        raise Refused(400, "upload.incomplete", "The body ended before Content-Length bytes.")
    sha256 = base64.b64encode(digest.digest()).decode()
    if expected_sha256 and not hmac.compare_digest(sha256, expected_sha256):
        raise Refused(400, "upload.checksum_mismatch", "The body does not match the signed sha256.")
    return sha256
