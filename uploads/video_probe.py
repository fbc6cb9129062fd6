"""A video's duration and frame size, read by ffprobe (Debian's ffmpeg package) where it is
installed. ffprobe reads the object over a signed URL with range requests, so only the
parts it needs (the container's index) are fetched."""

from __future__ import annotations

import json
import logging
import math
import shutil
import subprocess
from typing import Any

from uploads.facts import Facts

logger = logging.getLogger("uploads")

_warned_missing = False
#: The largest width or height recorded (the column's range); anything beyond is unknown.
_MAX_PIXELS = 2**31 - 1


def ffprobe() -> str | None:
    """The ffprobe on PATH, or None (logged once per process)."""
    global _warned_missing
    found = shutil.which("ffprobe")
    if found is None and not _warned_missing:
        _warned_missing = True
        logger.warning(
            "ffprobe is not installed (apt-get install ffmpeg): videos complete with no "
            "duration, width or height."
        )
    return found


def probe(binary: str, target: str, demuxer: str, timeout: float) -> Facts:
    """Run ffprobe on ``target`` (a path or an http(s) URL) as ``demuxer`` only: a file
    cannot pass for a playlist or another format that would make ffprobe open other
    URLs. Anything that goes wrong leaves the facts unknown."""
    remote = target.startswith(("http://", "https://"))
    command = [
        binary,
        "-v",
        "error",
        "-protocol_whitelist",
        "http,https,tcp,tls" if remote else "file",
        "-f",
        demuxer,
        "-show_entries",
        "format=duration:stream=codec_type,width,height",
        "-of",
        "json",
        "-i",
        target if remote else f"file:{target}",
    ]
    try:
        ran = subprocess.run(
            command, capture_output=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL
        )
    except (subprocess.TimeoutExpired, OSError) as err:
        logger.warning("ffprobe did not read the video: %s", type(err).__name__)
        return Facts()
    if ran.returncode != 0:
        # Its message names the input: a signed URL, a capability to read the file.
        said = ran.stderr.decode(errors="replace").replace(target, "<the file>").strip()
        logger.warning("ffprobe could not read the video: %s", said[-300:])
        return Facts()
    try:
        return _parse(json.loads(ran.stdout))
    except ValueError:
        return Facts()


def _parse(found: Any) -> Facts:
    if not isinstance(found, dict):
        return Facts()
    duration = _number(found.get("format", {}), "duration", float)
    if duration is not None and not (math.isfinite(duration) and duration >= 0):
        duration = None
    width = height = None
    streams = found.get("streams")
    for stream in streams if isinstance(streams, list) else []:
        if isinstance(stream, dict) and stream.get("codec_type") == "video":
            width, height = _pixels(stream, "width"), _pixels(stream, "height")
            break
    return Facts(width=width, height=height, duration=duration)


def _number(entries: Any, name: str, kind: type[int] | type[float]) -> Any:
    try:
        return kind(entries[name])
    except (KeyError, TypeError, ValueError, OverflowError):
        return None


def _pixels(stream: dict[str, Any], name: str) -> int | None:
    value = _number(stream, name, int)
    return value if value is not None and 0 < value <= _MAX_PIXELS else None
