"""Each provider page's way to run the project against its local emulator (docs/s3.md,
docs/azure.md, docs/gcs.md), executed as written in a copy of the checkout: install, start
the emulator, wait for it, prepare it, `make run`; then the README's walk-through presigns,
sends the file to the emulator and completes against that server.

Cheap by design: the copy's `.venv` is a ready one (the packages of the venv running the
suite, and the stamp `make test` leaves, so `make install` has nothing to do) and its
`node_modules` the checkout's Azurite; the emulators' documented ports and `make run`'s are
replaced by free ones. That `make` installs the extra the environment names is tested apart,
with `make -n`."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.live import LOG_TAIL, ROOT, free_port, listening, run_script
from tests.requirements import missing, require_binary
from tests.wheel import copy_sources

pytestmark = pytest.mark.live

#: How long a page may take from its first command to a server answering (installing nothing).
START_TIMEOUT = 150.0


@dataclass(frozen=True)
class Page:
    name: str
    start: str  # what only the emulator block has
    ports: tuple[int, ...]  # the ports the page names, each replaced by a free one
    needs: str  # what must be in the ready venv or the checkout, as a relative path


PAGES = {
    "s3": Page("s3.md", "weed mini", (8333,), "bin/weed"),
    "azure": Page("azure.md", "azurite-blob", (10000,), "node_modules/.bin/azurite-blob"),
    "gcs": Page("gcs.md", "FAKE_GCS=", (4443,), ""),
}

#: Which extra each UPLOADS_STORAGE makes `make install` and `make run` install.
EXTRAS_OF = {
    "": "project",
    "local": "project",
    "s3": "project,s3",
    "azure": "project,azure",
    "gcs": "project,gcs",
}


def emulator_block(page: Page) -> str:
    """The page's shell block that starts its emulator and ends with `make run`."""
    text = (ROOT / "docs" / page.name).read_text()
    blocks = re.findall(r"<!-- run: emulator -->\n```(?:sh|bash)\n(.*?)```", text, re.S)
    (block,) = [b for b in blocks if page.start in b]  # marked for this test (test_doc_examples)
    assert block.rstrip().splitlines()[-1].endswith("make run"), block
    return str(block)


def with_free_ports(block: str, page: Page) -> tuple[str, dict[int, int]]:
    ports = {port: free_port() for port in page.ports}
    for documented, free in ports.items():
        assert re.search(rf"\b{documented}\b", block), documented
        block = re.sub(rf"\b{documented}\b", str(free), block)
    return block, ports


def ready_venv(clone: Path) -> None:
    """``clone/.venv``: a venv seeing the running suite's packages, stamped as `make test`
    leaves it (every extra installed), with the emulators' programs beside its python."""
    venv = clone / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site,) = (venv / "lib").glob("python3*/site-packages")
    (site / "suite_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    weed = Path(sys.executable).parent / "weed"
    if weed.exists():
        (venv / "bin" / "weed").symlink_to(weed)
    (venv / ".installed-dev").touch()


def ready_azurite(clone: Path) -> None:
    """``clone/node_modules`` as `make azurite` leaves it: the checkout's programs, and npm's
    stamp newer than package-lock.json. (A directory of its own: were make to run `npm ci`
    there, it would remove that, not the checkout's packages.)"""
    installed = ROOT / "node_modules"
    if not (installed / ".package-lock.json").exists():
        return
    modules = clone / "node_modules"
    modules.mkdir()
    shutil.copy(installed / ".package-lock.json", modules / ".package-lock.json")
    (modules / ".bin").symlink_to((installed / ".bin").resolve())


@dataclass
class PageRun:
    """One page's block running with bash in a clone of its own, in a process group."""

    process: subprocess.Popen[bytes]
    log: Path
    server: int  # make run's port
    emulator: int  # the emulator's (free) port

    def serving(self) -> str:
        """What the block printed, once `make run`'s server answers and has printed the
        walk-through's exports."""
        deadline = time.monotonic() + START_TIMEOUT
        while not (listening(self.server)() and "export BASE=" in self.printed()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                state = "exited" if self.process.poll() is not None else "was not serving"
                raise AssertionError(f"the page's commands {state}:\n{self.printed()[-LOG_TAIL:]}")
            time.sleep(0.2)
        return self.printed()

    def printed(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        """The emulator, make, runserver and its reloader: the whole group."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def start_page(page: Page, work: Path) -> PageRun | str:
    """Start ``page``'s block in a clone in ``work``, as a reader pastes it into a fresh
    terminal (PORT set for `make run`); what is missing to run it, instead, if anything."""
    clone = copy_sources(work / "clone")
    ready_venv(clone)
    ready_azurite(clone)
    if page.needs and not any((d / page.needs).exists() for d in (clone / ".venv", clone)):
        return f"{page.needs} for {page.name} (make test installs it)"
    block, ports = with_free_ports(emulator_block(page), page)
    (emulator,) = ports.values()
    server = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(clone)),
        "LANG": "C.UTF-8",
        "PORT": str(server),
        "PYTHONUNBUFFERED": "1",
    }
    log = work / "page.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["bash", "-e", "-c", block],
            cwd=clone,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return PageRun(process, log, server, emulator)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, PageRun | str]]:
    """Every page's block, started at once (each waits mostly on its own processes)."""
    require_binary("curl", "apt-get install curl")
    require_binary("make", "apt-get install make")
    runs: dict[str, PageRun | str] = {}
    try:
        for provider, page in PAGES.items():
            runs[provider] = start_page(page, tmp_path_factory.mktemp(provider))
        yield runs
    finally:
        for run in runs.values():
            if isinstance(run, PageRun):
                run.stop()


@pytest.mark.parametrize("provider", sorted(PAGES))
def test_the_pages_emulator_commands_run_the_project_as_written(
    provider: str, pages: dict[str, PageRun | str]
) -> None:
    run = pages[provider]
    if isinstance(run, str):
        missing(run)
    printed = run.serving()
    exports = re.search(r"^export (BASE=\S+ TOKEN=\S+ FILE=\S+)$", printed, re.M)
    assert exports, printed
    variables = dict(item.split("=", 1) for item in exports.group(1).split())

    out = run_script(ROOT / "docs" / "walkthrough.sh", {"PATH": os.environ["PATH"], **variables})

    assert variables["BASE"] == f"http://127.0.0.1:{run.server}"
    upload_url = re.search(r'"uploadUrl":"([^"]+)"', out)
    assert upload_url and upload_url.group(1).startswith(f"http://127.0.0.1:{run.emulator}/"), out
    assert '"status":"pending"' in out and '"status":"completed"' in out, out


@pytest.mark.parametrize("storage", sorted(EXTRAS_OF))
def test_make_installs_the_extra_of_the_storage_the_environment_names(
    storage: str, tmp_path: Path
) -> None:
    require_binary("make", "apt-get install make")
    env = {**os.environ, "UPLOADS_STORAGE": storage}
    planned = subprocess.run(
        ["make", "-n", "install", f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert planned.returncode == 0, planned.stderr
    assert f"pip install --quiet -e '.[{EXTRAS_OF[storage]}]'" in planned.stdout
