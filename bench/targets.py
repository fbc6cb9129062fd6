"""Issue 19's targets, and the summary table of one stack's figures beside them.

Pure functions of bench/wrk_bench.py's result dict (its ``--json``), so that they are tested
without a server (tests/test_bench_targets.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: The issue's full flow on PostgreSQL + Redis + SeaweedFS when it was filed (flows/s): the
#: target is twice it, or twice the ``flow_baseline`` a result names (the code before, measured
#: on the same machine: ``--flow-baseline``).
FLOW_BASELINE = 18.0


@dataclass(frozen=True)
class Target:
    """``figure`` must be at least (or at most) ``limit`` on the named stacks."""

    text: str
    limit: float
    at_least: bool
    stacks: tuple[str, ...] = ("pg", "sqlite")

    def verdict(self, stack: str, value: float | None) -> str:
        if stack not in self.stacks:
            return ""
        if value is None:
            return f"{self.text}: not measured"
        met = value >= self.limit if self.at_least else value <= self.limit
        return f"{self.text}: {'met' if met else '**NOT MET**'}"


PRESIGN_RATIO = {
    "pg": Target(">= 0.25 x bare", 0.25, True, ("pg",)),
    "sqlite": Target(">= 0.40 x bare", 0.40, True, ("sqlite",)),
}
PRESIGN_P99 = Target("p99 < 40 ms", 40.0, False)
PRESIGN_ROUND_TRIPS = Target("<= 3 round trips", 3.0, False, ("pg",))
COMPLETE_STORAGE_CALLS = Target("<= 4 storage calls", 4.0, False, ("pg",))
COMPLETE_P99 = Target("p99 < 150 ms", 150.0, False, ("pg",))


def flow_target(baseline: float) -> Target:
    return Target(f">= 2 x {baseline:g} flows/s", 2 * baseline, True, ("pg",))


MULTIPART = Target("complete <= 0.5 x parts", 0.5, False)
VERSUS_S3DIRECT = Target("presign >= s3direct per upload", 1.0, True, ("sqlite",))


def number(value: float | None, digits: int = 0) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def get(result: dict[str, Any], *path: str) -> Any:
    """``result[path[0]][path[1]]...``, None where any step is missing."""
    value: Any = result
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


Row = tuple[str, str, str, str, str]


def summary_rows(result: dict[str, Any]) -> list[Row]:
    """One stack's figures: (figure, value, ratio to bare, p99 ms, targets)."""
    stack = result["stack"]
    rows: list[Row] = []

    def targets(*pairs: tuple[Target, float | None]) -> str:
        return "; ".join(filter(None, (t.verdict(stack, v) for t, v in pairs)))

    def rate(name: str, label: str, check: Callable[[dict[str, Any]], str] = lambda _: "") -> None:
        figures = result.get(name)
        if figures:
            rows.append(
                (
                    label,
                    f"{number(figures['rps'])} req/s",
                    f"{figures['ratio']:.2f}",
                    number(figures["p99_ms"], 1),
                    check(figures),
                )
            )

    rows.append(("bare DRF view", f"{number(result['floor_rps'])} req/s", "1.00", "", ""))
    rate(
        "presign",
        "presign",
        lambda f: targets(
            (PRESIGN_RATIO[stack], f["ratio"]),
            (PRESIGN_P99, f["p99_ms"]),
            (PRESIGN_ROUND_TRIPS, get(result, "round_trips", "presign", "per_request")),
        ),
    )
    rate("presign_cached", "presign, speed settings")
    s3direct = result.get("s3direct")
    if s3direct:
        rate("s3direct", "s3direct signing (1 params + 3 signatures)")
        per_upload = s3direct["rps"] / s3direct["requests_per_upload"]
        versus = result["presign"]["rps"] / per_upload
        rows.append(
            (
                "s3direct uploads signed",
                f"{number(per_upload)} uploads/s",
                f"{per_upload / result['floor_rps']:.2f}",
                "",
                f"presign {versus:.2f} x s3direct per upload"
                + (f"; {t}" if (t := VERSUS_S3DIRECT.verdict(stack, versus)) else ""),
            )
        )
    complete = result.get("complete")
    if complete:
        rows.append(
            (
                "complete",
                f"{number(complete['rps'])} req/s",
                "",
                number(complete["p99_ms"], 1),
                targets(
                    (COMPLETE_P99, complete["p99_ms"]),
                    (COMPLETE_STORAGE_CALLS, get(result, "round_trips", "complete", "storage")),
                ),
            )
        )
    flow = result.get("flow")
    if flow:
        rows.append(
            (
                "whole flow (presign, PUT, complete)",
                f"{number(flow['rps'], 1)} flows/s",
                "",
                number(flow["p99_ms"], 1),
                targets((flow_target(result.get("flow_baseline", FLOW_BASELINE)), flow["rps"])),
            )
        )
    for name, trips in (result.get("round_trips") or {}).items():
        opened = ", ".join(
            f"{service} {count}" for service, count in trips["connections_opened"].items() if count
        )
        rows.append(
            (
                f"round trips per {name}",
                f"PostgreSQL {trips['postgres']:.2f}, Redis {trips['redis']:.2f}, "
                f"storage {trips.get('storage', 0):.2f}",
                "",
                "",
                f"{trips['per_request']:.2f} to PostgreSQL and Redis"
                + (f" (connections opened in {trips['requests']}: {opened})" if opened else ""),
            )
        )
    multipart = result.get("multipart")
    if multipart:
        ratio = multipart["complete_s"] / multipart["parts_s"] if multipart["parts_s"] else None
        rows.append(
            (
                f"multipart {multipart['size']} ({multipart['storage']})",
                f"parts {multipart['parts_s']:.1f} s, complete {multipart['complete_s']:.1f} s",
                "",
                "",
                (f"complete/parts {ratio:.2f}; " if ratio is not None else "")
                + MULTIPART.verdict(stack, ratio),
            )
        )
    tasks = result.get("tasks")
    if tasks:
        rows.append(("tasks", tasks["backend"], "", "", tasks["summary"]))
    return rows


def summary_table(result: dict[str, Any]) -> list[str]:
    """The stack's summary as Markdown lines."""
    lines = [
        f"{result['description']}:",
        "",
        "| figure | value | /bare | p99 ms | targets (issue 19) |",
        "|---|---:|---:|---:|---|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in summary_rows(result)]
    return lines
