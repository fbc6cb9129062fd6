"""Every code block of docs/, run as written with its language's runtime against the
project on a free port (local storage, the media type in parts above 5 MiB).

The convention (docs/examples.md, "How these are tested"): a fenced code block in docs/ is
preceded by an HTML comment, ``<!-- run: KIND -->`` or ``<!-- not run: the reason -->``. KIND
says what the block is and so how it runs (RUNS below). Fences of data (json, text) show
answers and need none. A code block without a marker fails test_every_code_block_says_how_it_runs,
so none is added without being run here or saying why not."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from accounts.demo import png_bytes
from tests.backends import Backend
from tests.live import ROOT, DemoSite, demo_site, media_in_parts
from tests.requirements import missing, require_binary

pytestmark = pytest.mark.live

#: Every page of docs/. The README is not among them: its walk-throughs and its "Using the app"
#: blocks run in test_walkthrough.py, test_accounts_walkthrough.py and test_host_project.py.
PAGES = tuple(sorted(str(page.relative_to(ROOT)) for page in (ROOT / "docs").glob("*.md")))
DATA_LANGUAGES = {"json", "text"}
#: What a ``run:`` block is: flow, a whole upload program (API, USERNAME, PASSWORD, FILE, TYPE,
#: CONTENT_TYPE); token, prints the profile with a token it gets; avatar, sets the avatar
#: (API, TOKEN, ID); parts, a video in parts (API, TOKEN, FILE); emulator, a storage page's
#: local emulator and `make run`, which tests/test_provider_pages.py runs in a fresh clone.
RUNS = ("flow", "token", "avatar", "parts", "emulator")
FLOW_LANGUAGES = ("sh", "js", "python", "ruby", "go", "php", "csharp")

FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)
MARKER = re.compile(r"<!-- (run|not run): (.+?) -->\n\Z")

MiB = 1024 * 1024
PART = 5 * MiB  # the local signer's smallest part
MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
TIMEOUT = 120


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    language: str
    code: str
    marker: str | None  # "run", "not run", or None without a marker
    detail: str  # the kind of run, or the reason it is not run

    @property
    def name(self) -> str:
        return f"{self.page}:{self.line}:{self.language}"


def blocks_of(page: str, text: str) -> list[Block]:
    """The fenced blocks of ``text``, each with the marker on the line right above it."""
    found = []
    for fence in FENCE.finditer(text):
        marker = MARKER.search(text, 0, fence.start())
        line = text.count("\n", 0, fence.start()) + 1
        kind, detail = (marker[1], marker[2]) if marker else (None, "")
        found.append(Block(page, line, fence[1], fence[2], kind, detail))
    return found


def doc_blocks() -> list[Block]:
    return [b for page in PAGES for b in blocks_of(page, (ROOT / page).read_text())]


def runs(kind: str) -> list[Any]:
    return [
        pytest.param(b, id=f"{b.language}-{b.line}")
        for b in doc_blocks()
        if b.marker == "run" and b.detail == kind
    ]


def test_a_marker_counts_only_right_above_its_block() -> None:
    text = (
        "<!-- run: flow -->\n```sh\necho 1\n```\n\n"
        "<!-- not run: needs a browser -->\n\n```js\nalert(1)\n```\n"
        "```json\n{}\n```\n"
    )
    blocks = blocks_of("page.md", text)
    assert [(b.language, b.marker, b.detail) for b in blocks] == [
        ("sh", "run", "flow"),
        ("js", None, ""),  # a blank line between: not its marker
        ("json", None, ""),
    ]
    assert blocks[0].code == "echo 1\n" and blocks[1].line == 8


def test_every_code_block_says_how_it_runs() -> None:
    blocks = doc_blocks()
    unmarked = [b.name for b in blocks if b.language not in DATA_LANGUAGES and b.marker is None]
    assert unmarked == [], "code blocks without <!-- run: ... --> or <!-- not run: ... -->"
    unknown = [b.name for b in blocks if b.marker == "run" and b.detail not in RUNS]
    assert unknown == [], f"run kinds other than {RUNS}"
    no_runtime = [b.name for b in blocks if b.marker == "run" and b.language not in RUNTIMES]
    assert no_runtime == [], f"languages without a runtime here: {sorted(RUNTIMES)}"
    flows = sorted(b.language for b in blocks if b.detail == "flow")
    assert flows == sorted(FLOW_LANGUAGES)  # one whole program in each of the seven


# --- the runtimes ----------------------------------------------------------------------


def _compile(argv: list[str], cwd: Path, install: str) -> None:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)
    if done.returncode != 0 and "could not be found" in done.stdout + done.stderr:
        missing(f"{argv[0]} lacks a library ({install}): {done.stdout}")
    assert done.returncode == 0, done.stdout + done.stderr


def _bash(path: Path) -> list[str]:
    require_binary("curl", "apt-get install curl")
    require_binary("jq", "apt-get install jq")
    require_binary("openssl", "apt-get install openssl")
    return [require_binary("bash", "apt-get install bash"), str(path)]


def _node(path: Path) -> list[str]:
    return [require_binary("node", "apt-get install nodejs (18 or later)"), str(path)]


def _python(path: Path) -> list[str]:
    return [sys.executable, str(path)]


def _ruby(path: Path) -> list[str]:
    return [require_binary("ruby", "apt-get install ruby"), str(path)]


def _go(path: Path) -> list[str]:
    go = require_binary("go", "apt-get install golang-go")
    _compile([go, "build", "-o", "upload", path.name], path.parent, "apt-get install golang-go")
    return [str(path.parent / "upload")]


def _php(path: Path) -> list[str]:
    php = require_binary("php", "apt-get install php-cli php-curl")
    probe = subprocess.run([php, "-r", "exit(function_exists('curl_init') ? 0 : 1);"])
    if probe.returncode != 0:
        missing("php's curl extension is missing (apt-get install php-curl)")
    return [php, str(path)]


def _csharp(path: Path) -> list[str]:
    install = (
        "apt-get install mono-mcs libmono-system-net-http4.0-cil "
        "libmono-system-runtime-serialization4.0-cil"
    )
    mcs = require_binary("mcs", install)
    mono = require_binary("mono", install)
    references = ["-r:System.Net.Http.dll", "-r:System.Runtime.Serialization.dll"]
    _compile([mcs, "-nowarn:649", *references, path.name], path.parent, install)
    return [mono, str(path.with_suffix(".exe"))]


#: fence language -> (the file name the page says to save it as, how to run that file).
RUNTIMES: dict[str, tuple[str, Callable[[Path], list[str]]]] = {
    "sh": ("upload.sh", _bash),
    "js": ("upload.mjs", _node),
    "python": ("upload.py", _python),
    "ruby": ("upload.rb", _ruby),
    "go": ("upload.go", _go),
    "php": ("upload.php", _php),
    "csharp": ("Upload.cs", _csharp),
}


#: Saves a block as the page says (compiling it where needed) and answers the command to run it.
Programs = Callable[[Block], list[str]]


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory) -> Programs:
    """The command that runs a block, saved (and compiled) once per block."""
    made: dict[Block, list[str]] = {}

    def program(block: Block) -> list[str]:
        if block not in made:
            name, prepare = RUNTIMES[block.language]
            path = tmp_path_factory.mktemp(block.language) / name
            path.write_text(block.code)
            made[block] = prepare(path)
        return made[block]

    return program


@dataclass(frozen=True)
class Run:
    returncode: int
    lines: list[str]
    stderr: str

    @property
    def last(self) -> str:
        return self.lines[-1] if self.lines else ""


# --- the site --------------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    demo: DemoSite
    work: Path

    @property
    def api(self) -> str:
        return f"{self.demo.base}/api/v1"

    @property
    def login(self) -> dict[str, str]:
        return {"USERNAME": "demo", "PASSWORD": self.demo.shown("Password")}

    def call(self, method: str, path: str, body: Any = None) -> Any:
        token = self.demo.shown("Access token")
        request = urllib.request.Request(
            self.api + path,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            method=method,
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.load(answer)

    def run(self, command: list[str], **env: str) -> Run:
        done = subprocess.run(
            command,
            cwd=self.work,
            env=os.environ | {"API": self.api} | env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        return Run(done.returncode, done.stdout.splitlines(), done.stderr)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    var = tmp_path_factory.mktemp("site")
    # Many presigns within a minute, more than the default 30/m allows.
    with demo_site(var, setup=media_in_parts(PART), UPLOADS_RATE_LIMIT="1000/m") as demo:
        yield Site(demo, tmp_path_factory.mktemp("work"))


@pytest.fixture(scope="module")
def s3_site(tmp_path_factory: pytest.TempPathFactory, s3_backend: Backend) -> Iterator[Site]:
    """The project on S3 (SeaweedFS), where the URL binds a checksum header besides the type."""
    var = tmp_path_factory.mktemp("s3-site")
    with demo_site(var, UPLOADS_RATE_LIMIT="1000/m", **s3_backend.project_env(var)) as demo:
        yield Site(demo, tmp_path_factory.mktemp("s3-work"))


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def write(site: Site, name: str, data: bytes) -> str:
    path = site.work / name
    path.write_bytes(data)
    return str(path)


def assert_completed(site: Site, run: Run, data: bytes) -> dict[str, Any]:
    """The program ended with ``completed <id>``, and the API holds that upload, verified."""
    assert run.returncode == 0, run.stderr
    status, upload_id = run.last.split()
    assert status == "completed"
    upload = site.call("GET", f"/uploads/{upload_id}")["data"]
    assert upload["status"] == "completed"
    assert (upload["size"], upload["sha256"]) == (len(data), sha256_b64(data))
    return upload  # type: ignore[no-any-return]


def uploads_total(site: Site) -> int:
    return int(site.call("GET", "/uploads?pageSize=1")["meta"]["pagination"]["total"])


# --- the blocks ------------------------------------------------------------------------


@pytest.mark.parametrize("block", runs("flow"))
def test_flow_uploads_a_file_once(block: Block, site: Site, programs: Programs) -> None:
    png = png_bytes(comment=f"{block.name} single".encode())
    file = write(site, f"{block.language}.png", png)
    env = site.login | {"FILE": file, "TYPE": "avatar", "CONTENT_TYPE": "image/png"}

    first = site.run(programs(block), **env)
    upload = assert_completed(site, first, png)
    assert upload["type"] == "avatar" and upload["fileName"] == f"{block.language}.png"
    with urllib.request.urlopen(upload["publicUrl"], timeout=30) as served:
        assert served.read() == png

    again = site.run(programs(block), **env)  # the same file: the server has it already
    assert again.returncode == 0, again.stderr
    assert again.lines == ["already uploaded", f"completed {upload['id']}"]


def test_s3_binds_headers_a_program_must_send(s3_site: Site) -> None:
    """What makes the S3 runs below a test of the headers: leave one out and S3 refuses."""
    body = {"type": "avatar", "contentType": "image/png", "size": 8, "sha256": sha256_b64(b"x")}
    presigned = s3_site.call("POST", "/uploads/presign", body)["data"]
    s3_site.call("DELETE", f"/uploads/{presigned['id']}")
    assert {"content-type", "x-amz-checksum-sha256"} <= {h.lower() for h in presigned["headers"]}


@pytest.mark.parametrize("block", runs("flow"))
def test_flow_sends_the_headers_s3_signed(
    block: Block, s3_site: Site, s3_backend: Backend, programs: Programs
) -> None:
    png = png_bytes(comment=f"{block.name} s3".encode())
    env = {"FILE": write(s3_site, "s3.png", png), "TYPE": "avatar", "CONTENT_TYPE": "image/png"}

    run = s3_site.run(programs(block), **s3_site.login, **env)

    upload = assert_completed(s3_site, run, png)
    assert s3_backend.read(upload["key"]) == png


@pytest.mark.parametrize("block", runs("flow"))
def test_flow_sends_a_large_file_in_parts(block: Block, site: Site, programs: Programs) -> None:
    video = MP4_HEAD + block.name.encode().ljust(PART, b"\0") + b"the second part"
    file = write(site, f"{block.language}.mp4", video)
    env = site.login | {"FILE": file, "TYPE": "media", "CONTENT_TYPE": "video/mp4"}

    run = site.run(programs(block), **env)

    assert run.lines[:2] == ["part 1/2 sent", "part 2/2 sent"], run.lines
    assert assert_completed(site, run, video)["contentType"] == "video/mp4"


@pytest.mark.parametrize("block", runs("flow"))
def test_flow_stops_at_an_api_error_and_says_which(
    block: Block, site: Site, programs: Programs
) -> None:
    file = write(site, f"{block.language}-refused.png", png_bytes(comment=b"refused"))
    env = site.login | {"FILE": file, "TYPE": "avatar", "CONTENT_TYPE": "image/gif"}
    before = uploads_total(site)

    run = site.run(programs(block), **env)

    assert run.returncode != 0
    assert run.stderr.startswith("upload.invalid_content_type: 'image/gif' is not allowed")
    assert uploads_total(site) == before


@pytest.mark.parametrize("block", runs("token"))
def test_token_block_signs_in(block: Block, site: Site, programs: Programs) -> None:
    run = site.run(programs(block), **site.login)

    assert run.returncode == 0, run.stderr
    assert json.loads(run.last)["data"]["username"] == "demo"


@pytest.mark.parametrize("block", runs("avatar"))
def test_avatar_block_sets_the_avatar(block: Block, site: Site, programs: Programs) -> None:
    python_flow = next(b for b in doc_blocks() if b.detail == "flow" and b.language == "python")
    png = png_bytes(comment=f"{block.name} avatar".encode())
    env = {"FILE": write(site, "avatar.png", png), "TYPE": "avatar", "CONTENT_TYPE": "image/png"}
    upload = assert_completed(site, site.run(programs(python_flow), **site.login, **env), png)

    run = site.run(programs(block), TOKEN=site.demo.shown("Access token"), ID=upload["id"])

    assert run.returncode == 0, run.stderr
    me = site.call("GET", "/users/me")["data"]
    assert me["avatarUpload"]["id"] == upload["id"]
    assert me["avatarUrl"] == upload["publicUrl"] and upload["publicUrl"] in run.last


@pytest.mark.parametrize("block", runs("parts"))
def test_parts_block_sends_a_video_in_parts(block: Block, site: Site, programs: Programs) -> None:
    video = MP4_HEAD + block.name.encode().ljust(PART + 10, b"\0")
    run = site.run(
        programs(block),
        TOKEN=site.demo.shown("Access token"),
        FILE=write(site, "parts.mp4", video),
    )

    assert run.lines[:2] == ["part 1/2 sent", "part 2/2 sent"], run.lines
    assert assert_completed(site, run, video)["type"] == "media"


@pytest.mark.parametrize("block", runs("parts"))
def test_parts_block_resumes_an_upload_sending_only_the_parts_lacking(
    block: Block, site: Site, programs: Programs
) -> None:
    video = MP4_HEAD + block.name.encode().ljust(PART + 20, b"\1")
    body = {"type": "media", "contentType": "video/mp4", "size": len(video), "multipart": True}
    upload = site.call("POST", "/uploads/presign", body | {"sha256": sha256_b64(video)})["data"]
    first = site.call("POST", f"/uploads/{upload['id']}/parts", {"partNumbers": [1]})["data"]
    part = first["parts"][0]
    headers = {k: v for k, v in part["headers"].items() if k != "Content-Length"}
    sent = urllib.request.Request(part["url"], video[:PART], headers, method=part["method"])
    urllib.request.urlopen(sent, timeout=30).close()  # then the client crashed

    run = site.run(
        programs(block),
        TOKEN=site.demo.shown("Access token"),
        FILE=write(site, "resumed.mp4", video),
        ID=upload["id"],
    )

    assert run.lines[0] == "part 2/2 sent", run.lines  # part 1 was not sent again
    assert run.last == f"completed {upload['id']}"
    assert_completed(site, run, video)
