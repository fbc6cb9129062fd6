"""Block uploads with the Azure signer against Azurite: parts signed by the server, sent over
HTTP as a browser sends them, listed for a client that resumes, assembled in order with the
server's properties, discarded on abort; and what a part URL can and cannot reach."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.storage.blob import BlobBlock
from django.utils import timezone

from tests.backends.azure import AzureBackend, storage_config
from tests.helpers import use_storage
from tests.live import free_port
from uploads.keys import staging_key
from uploads.signers import SignerError, SignerUnavailable, StoredPart, UploadSpec, get_signer
from uploads.signers.azure import AzureSigner

PART = 64 * 1024
METADATA = {"upload-id": "5d7a0c1e-0000-4000-8000-000000000001", "owner": "7"}


@pytest.fixture
def signer(azure_backend: AzureBackend, settings: Any) -> AzureSigner:
    use_storage(settings, azure_backend.storage_config())
    signer = get_signer("default")
    assert isinstance(signer, AzureSigner)
    return signer


def new_spec(content_type: str = "video/mp4") -> UploadSpec:
    key = staging_key(f"media/7/{uuid.uuid4()}.mp4")
    return UploadSpec(
        key=key,
        content_type=content_type,
        expires_at=timezone.now() + timedelta(minutes=10),
        max_size=10 * PART,
        metadata=METADATA,
    )


def send(signer: AzureSigner, spec: UploadSpec, upload_id: str, number: int, body: bytes) -> int:
    """Sign part ``number`` for ``len(body)`` bytes and PUT it as a browser would."""
    signed = signer.presign_part(spec, upload_id, number, len(body))
    response = requests.request(
        signed.method, signed.url, data=body, headers=signed.headers, timeout=10
    )
    return response.status_code


def split_part_url(url: str) -> tuple[str, str]:
    """(the blob's URL, the SAS alone) of a part URL ``<blob>?comp=block&blockid=..&<sas>``."""
    base, query = url.split("?", 1)
    return base, query.split("&", 2)[2]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_parts_sent_over_http_are_assembled_in_order_with_the_servers_properties(
    signer: AzureSigner, azure_backend: AzureBackend
) -> None:
    spec = new_spec()
    parts = [os.urandom(PART), os.urandom(PART), os.urandom(PART // 3)]
    upload_id = signer.create_multipart(spec)

    # Sent out of order, as parallel uploads finish.
    for number in (3, 1, 2):
        assert send(signer, spec, upload_id, number, parts[number - 1]) == 201
    listed = signer.list_parts(spec.key, upload_id)
    signer.complete_multipart(spec.key, upload_id, listed)

    assert [(p.number, p.size) for p in listed] == [(1, PART), (2, PART), (3, PART // 3)]
    stored = azure_backend.read(spec.key)
    assert stored is not None
    assert sha256(stored) == sha256(b"".join(parts))
    properties = azure_backend.container.get_blob_client(spec.key).get_blob_properties()
    assert properties.content_settings.content_type == "video/mp4"
    assert properties.metadata == {"upload_id": METADATA["upload-id"], "owner": "7"}
    facts = signer.stat(spec.key)
    assert facts is not None
    assert (facts.size, facts.content_type) == (2 * PART + PART // 3, "video/mp4")
    # Complete again (a retry after a crash) assembles the same blob.
    signer.complete_multipart(spec.key, upload_id, signer.list_parts(spec.key, upload_id))
    assert azure_backend.read(spec.key) == stored


def test_a_part_url_is_a_write_sas_for_one_block_of_the_staging_blob(
    signer: AzureSigner,
) -> None:
    spec = new_spec()
    upload_id = signer.create_multipart(spec)

    signed = signer.presign_part(spec, upload_id, 2, PART)
    query = {name: values[0] for name, values in parse_qs(urlsplit(signed.url).query).items()}

    assert urlsplit(signed.url).path.endswith(f"/{spec.key}")
    assert (query["comp"], query["sp"], query["sr"]) == ("block", "w", "b")
    assert query["se"] == spec.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert base64.b64decode(query["blockid"]).decode() == f"{upload_id[:32]}-00002"
    assert (signed.method, signed.headers) == ("PUT", {})


def test_a_client_resuming_sees_the_parts_that_arrived_and_only_this_uploads(
    signer: AzureSigner, azure_backend: AzureBackend
) -> None:
    spec = new_spec()
    parts = [os.urandom(PART) for _ in range(3)]
    upload_id = signer.create_multipart(spec)
    other_id = signer.create_multipart(spec)  # an earlier, abandoned upload of the same blob
    assert send(signer, spec, other_id, 2, os.urandom(100)) == 201
    assert send(signer, spec, upload_id, 1, parts[0]) == 201
    assert send(signer, spec, upload_id, 3, parts[2]) == 201

    after_crash = signer.list_parts(spec.key, upload_id)

    assert [(p.number, p.size) for p in after_crash] == [(1, PART), (3, PART)]
    assert [(p.number, p.size) for p in signer.list_parts(spec.key, other_id)] == [(2, 100)]
    assert send(signer, spec, upload_id, 2, parts[1]) == 201
    signer.complete_multipart(spec.key, upload_id, signer.list_parts(spec.key, upload_id))
    assert azure_backend.read(spec.key) == b"".join(parts)


def test_nothing_sent_lists_no_parts(signer: AzureSigner) -> None:
    spec = new_spec()
    assert signer.list_parts(spec.key, signer.create_multipart(spec)) == []


def test_a_part_of_the_wrong_size_is_listed_with_the_size_azure_stored(
    signer: AzureSigner, azure_backend: AzureBackend
) -> None:
    spec = new_spec()
    upload_id = signer.create_multipart(spec)
    signed = signer.presign_part(spec, upload_id, 1, PART)

    longer = requests.put(signed.url, data=os.urandom(PART + 7), timeout=10)

    assert longer.status_code == 201  # a SAS cannot bind the length
    assert [(p.number, p.size) for p in signer.list_parts(spec.key, upload_id)] == [(1, PART + 7)]
    # Sent again with the right size, the part replaces the wrong one.
    right = os.urandom(PART)
    assert requests.put(signed.url, data=right, timeout=10).status_code == 201
    assert [(p.number, p.size) for p in signer.list_parts(spec.key, upload_id)] == [(1, PART)]
    signer.complete_multipart(spec.key, upload_id, signer.list_parts(spec.key, upload_id))
    assert azure_backend.read(spec.key) == right


def test_abort_discards_every_block_and_leaves_no_blob(
    signer: AzureSigner, azure_backend: AzureBackend
) -> None:
    spec = new_spec()
    upload_id = signer.create_multipart(spec)
    for number in (1, 2):
        assert send(signer, spec, upload_id, number, os.urandom(PART)) == 201
    listed_before = signer.list_parts(spec.key, upload_id)

    signer.abort_multipart(spec.key, upload_id)

    assert signer.list_parts(spec.key, upload_id) == []
    blob = azure_backend.container.get_blob_client(spec.key)
    with pytest.raises(ResourceNotFoundError):
        blob.get_block_list("all")
    # The blocks are gone, not merely unlisted: Azure cannot commit them any more.
    with pytest.raises(HttpResponseError) as gone:
        blob.commit_block_list([BlobBlock(p.etag) for p in listed_before])
    assert getattr(gone.value, "error_code", None) == "InvalidBlockList"
    assert azure_backend.read(spec.key) is None
    signer.abort_multipart(spec.key, upload_id)  # again: no error


def test_abort_of_an_upload_that_received_nothing_leaves_nothing(
    signer: AzureSigner, azure_backend: AzureBackend
) -> None:
    spec = new_spec()
    signer.abort_multipart(spec.key, signer.create_multipart(spec))
    assert list(azure_backend.container.list_blobs(name_starts_with=spec.key)) == []


def test_a_part_url_cannot_write_another_blob_or_read(
    signer: AzureSigner, azure_backend: AzureBackend
) -> None:
    spec = new_spec()
    upload_id = signer.create_multipart(spec)
    signed = signer.presign_part(spec, upload_id, 1, PART)
    final_key = spec.key.split("/", 1)[1]  # the key the upload completes to

    elsewhere = signed.url.replace(f"/{spec.key}?", f"/{final_key}?")
    assert requests.put(elsewhere, data=os.urandom(PART), timeout=10).status_code == 403
    whole_blob = elsewhere.replace("comp=block&", "")
    put_blob = requests.put(
        whole_blob, data=b"x", headers={"x-ms-blob-type": "BlockBlob"}, timeout=10
    )
    assert put_blob.status_code == 403
    assert azure_backend.read(final_key) is None
    blob = azure_backend.container.get_blob_client(final_key)
    with pytest.raises(ResourceNotFoundError):
        blob.get_block_list("all")
    assert send(signer, spec, upload_id, 1, b"part") == 201
    base, sas = split_part_url(signed.url)
    assert requests.get(f"{base}?{sas}", timeout=10).status_code == 403
    listing = requests.get(f"{base}?comp=blocklist&blocklisttype=all&{sas}", timeout=10)
    assert listing.status_code == 403


def test_a_block_list_committed_through_a_part_url_is_replaced_by_the_servers(
    signer: AzureSigner, azure_backend: AzureBackend
) -> None:
    """No SAS permission allows Put Block without Put Block List (both need write): a part
    URL can commit the blocks itself, in its own order and with its own type, and lease
    the blob. Complete then commits the server's list over it, after breaking the lease."""
    spec = new_spec()
    parts = [os.urandom(PART), os.urandom(PART)]
    upload_id = signer.create_multipart(spec)
    for number, body in enumerate(parts, 1):
        assert send(signer, spec, upload_id, number, body) == 201
    ids = [p.etag for p in signer.list_parts(spec.key, upload_id)]
    base, sas = split_part_url(signer.presign_part(spec, upload_id, 1, PART).url)
    swapped = "".join(
        f"<Latest>{base64.b64encode(i.encode()).decode()}</Latest>" for i in reversed(ids)
    )
    committed = requests.put(
        f"{base}?comp=blocklist&{sas}",
        data=f'<?xml version="1.0" encoding="utf-8"?><BlockList>{swapped}</BlockList>',
        headers={"x-ms-blob-content-type": "text/html"},
        timeout=10,
    )
    leased = requests.put(
        f"{base}?comp=lease&{sas}",
        headers={"x-ms-lease-action": "acquire", "x-ms-lease-duration": "-1"},
        timeout=10,
    )
    assert (committed.status_code, leased.status_code) == (201, 201)
    assert azure_backend.read(spec.key) == parts[1] + parts[0]

    listed = signer.list_parts(spec.key, upload_id)
    signer.complete_multipart(spec.key, upload_id, listed)

    assert [(p.number, p.size) for p in listed] == [(1, PART), (2, PART)]
    assert azure_backend.read(spec.key) == parts[0] + parts[1]
    properties = azure_backend.container.get_blob_client(spec.key).get_blob_properties()
    assert properties.content_settings.content_type == "video/mp4"
    # A lease taken again does not keep the blob from the sweep either.
    again = requests.put(
        f"{base}?comp=lease&{sas}",
        headers={"x-ms-lease-action": "acquire", "x-ms-lease-duration": "-1"},
        timeout=10,
    )
    assert again.status_code == 201
    signer.abort_multipart(spec.key, upload_id)
    assert azure_backend.read(spec.key) is None


def test_parts_of_another_upload_or_out_of_range_are_refused(signer: AzureSigner) -> None:
    spec = new_spec()
    upload_id = signer.create_multipart(spec)
    other_id = signer.create_multipart(spec)
    smallest, largest, most = signer.part_limits

    assert (signer.supports_multipart, signer.part_limits) == (True, (1, 4000 << 20, 50_000))
    with pytest.raises(SignerError, match="parts 1 to 50000"):
        signer.presign_part(spec, upload_id, most + 1, PART)
    with pytest.raises(SignerError, match="blocks of"):
        signer.presign_part(spec, upload_id, 1, largest + 1)
    with pytest.raises(SignerError, match="multipart upload id of the Azure signer"):
        signer.list_parts(spec.key, "not-an-id")
    foreign = StoredPart(number=1, size=PART, etag=f"{other_id[:32]}-00001")
    with pytest.raises(SignerError, match="not a block of this upload"):
        signer.complete_multipart(spec.key, upload_id, [foreign])
    with pytest.raises(SignerError, match="at least one part"):
        signer.complete_multipart(spec.key, upload_id, [])


def test_storage_down_is_a_signer_unavailable_error(settings: Any) -> None:
    use_storage(settings, storage_config(free_port()))
    signer = get_signer("default")
    spec = new_spec()
    upload_id = signer.create_multipart(spec)  # nothing to ask Azure yet

    with pytest.raises(SignerUnavailable):
        signer.list_parts(spec.key, upload_id)
    with pytest.raises(SignerUnavailable):
        signer.abort_multipart(spec.key, upload_id)
