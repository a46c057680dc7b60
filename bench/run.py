"""The benchmark suite: what the gateway costs on top of the upstream, side by side.

``.venv/bin/python bench/run.py [--quick]`` starts the emulator and the gateway in separate
processes, drives load from a third (``bench/load.py``, an aiohttp client that imports nothing
from the gateway), prints a markdown table and writes ``bench/results/<timestamp>.json``.

Cores (2-core box): the gateway alone on core 0; the emulator and the load generator share
core 1. Every "direct" row measures the emulator and the client on that core with no gateway,
which is also the ceiling the gateway rows cannot exceed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from procs import (
    PYTHON,
    ROOT,
    cpu_seconds,
    free_port,
    machine,
    pinned,
    rss_kib,
    stop,
    wait_http,
)
from qwen_proxy.accounts import Credentials, save_accounts
from qwen_proxy.emulator.testing import EmulatorHandle

GATEWAY_CORE = 0
LOAD_CORE = 1
BENCH = Path(__file__).resolve().parent

#: realistic pacing for the latency rows: first byte after 200 ms, an event every 20 ms
PACED = {"ttfb": 0.2, "event_delay": 0.02, "answer_length": 60, "delta_max": 6}
#: no pacing, short answers ("Hello! This is turn 1.")
UNPACED_SHORT = {"ttfb": 0.0, "event_delay": 0.0, "answer_length": None, "delta_max": 6}
#: no pacing, long answers: the relay's own ceiling
UNPACED_LONG = {"ttfb": 0.0, "event_delay": 0.0, "answer_length": 3000, "delta_max": 6}
#: the 2026-06 era: the gateway's single QWEN_PROXY_TOKEN serves without a browser session
#: for as long as a run takes (the firewall's gates would only measure the slider page)
EMULATOR_FLAGS = ["--no-fragment", "--no-record"]
REDIS_FLAGS = ["--save", "", "--appendonly", "no", "--daemonize", "no"]
#: streams that stay open: the first text after 5 s, then one event every 5 s
HELD = {"ttfb": 0.0, "event_delay": 5.0, "answer_length": 60, "delta_max": 6}


@dataclass(frozen=True)
class Plan:
    """How much load each part gets (``--quick`` shrinks it)."""

    latency_requests: dict[int, int]
    rps_seconds: float
    rps_concurrency: int
    chunks_seconds: float
    chunks_concurrency: int
    held_streams: int
    store_nodes: int


FULL = Plan({1: 30, 10: 300, 100: 1000}, 6.0, 32, 6.0, 8, 1000, 100_000)
QUICK = Plan({1: 8, 10: 60, 100: 200}, 2.0, 32, 2.0, 8, 1000, 20_000)


class Services:
    """The emulator (core 1) and the gateway (core 0), started once for the whole run."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.emulator: subprocess.Popen[bytes] | None = None
        self.gateway: subprocess.Popen[bytes] | None = None
        self.emulator_url = ""
        self.gateway_url = ""
        #: what the emulator account's browser sends (test data; never printed or stored)
        self.session: dict[str, str] = {}

    def start(self) -> None:
        """Start both and wait until they answer."""
        port = free_port()
        self.emulator = subprocess.Popen(
            pinned(
                LOAD_CORE,
                [PYTHON, "-m", "qwen_proxy.emulator", "--port", str(port), *EMULATOR_FLAGS],
            ),
            stdout=subprocess.PIPE,
            stderr=log_file(self.workdir / "emulator.log"),
        )
        assert self.emulator.stdout is not None
        for raw in self.emulator.stdout:
            line = raw.decode().strip()
            if line.startswith("qwen emulator on "):
                self.emulator_url = line.removeprefix("qwen emulator on ")
                break
        if not self.emulator_url:
            raise RuntimeError("the emulator did not start; see " + str(self.workdir))
        emulator = EmulatorHandle.connect(self.emulator_url)
        # the gateway holds the emulator account as a user adds one: its browser session
        account = emulator.accounts[0]
        self.session = account.browser_headers()
        save_accounts(
            self.workdir / "data" / "accounts.json",
            [
                Credentials(
                    name="bench",
                    token=account.token,
                    cookies=account.cookies,
                    bx_ua=account.bx_ua,
                    bx_umidtoken=account.bx_umidtoken,
                    bx_v=account.bx_v,
                )
            ],
        )
        gateway_port = free_port()
        env = {
            **os.environ,
            "QWEN_PROXY_PORT": str(gateway_port),
            "QWEN_PROXY_UPSTREAM_URL": self.emulator_url,
            "QWEN_PROXY_AUTH_URL": emulator.auth_url,
            "QWEN_PROXY_DATA_DIR": str(self.workdir / "data"),
            # one emulator account carries every stream of the run
            "QWEN_PROXY_ACCOUNT_MAX_CONCURRENT": "100000",
        }
        self.gateway = subprocess.Popen(
            pinned(GATEWAY_CORE, [PYTHON, "-m", "qwen_proxy", "serve"]),
            env=env,
            stdout=log_file(self.workdir / "gateway.log"),
            stderr=subprocess.STDOUT,
        )
        self.gateway_url = f"http://127.0.0.1:{gateway_port}"
        wait_http(self.gateway_url + "/health")

    @property
    def gateway_pid(self) -> int:
        """The gateway's process id (taskset execs, so it is the server itself)."""
        assert self.gateway is not None
        return self.gateway.pid

    def stop(self) -> None:
        """Stop what ``start`` started."""
        for process in (self.gateway, self.emulator):
            if process is not None:
                stop(process)


def log_file(path: Path) -> IO[bytes]:
    """A log file a child process writes to (it stays open as long as the child runs)."""
    return path.open("wb")


def load(services: Services, spec: dict[str, Any]) -> dict[str, Any]:
    """Run one scenario in a fresh load process on the load core; its JSON result."""
    spec = {"emulator_url": services.emulator_url, **spec}
    if spec["target"] == "direct":
        spec.update(url=services.emulator_url, session=services.session)
    else:
        spec["url"] = services.gateway_url
    done = subprocess.run(
        pinned(LOAD_CORE, [PYTHON, str(BENCH / "load.py"), json.dumps(spec)]),
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load failed: {done.stderr.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    if result.get("errors"):
        print(f"  ! {result['errors']} errors, first: {result['first_error']}", file=sys.stderr)
    return result


def measured_load(services: Services, spec: dict[str, Any]) -> dict[str, Any]:
    """``load`` with the gateway's CPU time over the run added."""
    before = cpu_seconds(services.gateway_pid)
    result = load(services, spec)
    result["gateway_cpu_s"] = cpu_seconds(services.gateway_pid) - before
    return result


def run_latency(services: Services, plan: Plan) -> list[dict[str, Any]]:
    """TTFT and total time of streamed replies at 1, 10 and 100 streams, both paths."""
    rows = []
    for streams, requests in plan.latency_requests.items():
        for target in ("direct", "gateway"):
            spec: dict[str, Any] = {"scenario": "load", "target": target, "knobs": PACED}
            spec |= {"concurrency": streams, "requests": requests, "stream": True}
            result = load(services, spec)
            rows.append({"streams": streams, "target": target, **result})
            print(
                f"  latency {streams:>3} streams {target:<7} ttft p50 "
                f"{result['ttft_p50_ms']:.1f} ms p99 {result['ttft_p99_ms']:.1f} ms",
                file=sys.stderr,
            )
    return rows


def run_throughput(services: Services, plan: Plan) -> dict[str, Any]:
    """Short non-streamed req/s at saturation, and relayed chunks/s with no pacing."""
    out: dict[str, Any] = {}
    for target in ("direct", "gateway"):
        spec: dict[str, Any] = {"scenario": "load", "target": target}
        spec |= {"knobs": UNPACED_SHORT, "stream": False}
        spec |= {"concurrency": plan.rps_concurrency, "duration": plan.rps_seconds}
        out[f"rps_{target}"] = measured_load(services, spec)
        print(f"  req/s {target}: {out[f'rps_{target}']['req_per_s']:.0f}", file=sys.stderr)
    for target in ("direct", "gateway"):
        spec = {"scenario": "load", "target": target, "knobs": UNPACED_LONG, "stream": True}
        spec |= {"concurrency": plan.chunks_concurrency, "duration": plan.chunks_seconds}
        out[f"chunks_{target}"] = measured_load(services, spec)
        print(
            f"  chunks/s {target}: {out[f'chunks_{target}']['chunks_per_s']:.0f}",
            file=sys.stderr,
        )
    return out


def run_held(services: Services, plan: Plan) -> dict[str, Any]:
    """Resident memory of the gateway with ``held_streams`` streams open."""
    spec: dict[str, Any] = {"scenario": "hold", "target": "gateway", "knobs": HELD}
    spec |= {"streams": plan.held_streams, "pid": services.gateway_pid, "timeout": 30.0}
    result = load(services, spec)
    print(f"  held {result['streams_open']} streams", file=sys.stderr)
    return result


def run_stores(workdir: Path, nodes: int) -> list[dict[str, Any]]:
    """SQLite and Redis lookups and inserts per second with ``nodes`` stored."""
    rows = []
    argv = [PYTHON, str(BENCH / "stores.py")]
    done = subprocess.run(
        pinned(GATEWAY_CORE, [*argv, "sqlite", str(nodes)]), capture_output=True, check=True
    )
    rows.append(json.loads(done.stdout.decode().strip().splitlines()[-1]))
    redis = _start_redis(workdir)
    if redis is None:
        rows.append({"store": "redis", "skipped": "no redis-server binary"})
        return rows
    process, url = redis
    try:
        done = subprocess.run(
            pinned(GATEWAY_CORE, [*argv, f"redis:{url}", str(nodes)]),
            capture_output=True,
            check=True,
        )
        rows.append(json.loads(done.stdout.decode().strip().splitlines()[-1]))
    finally:
        stop(process)
    return rows


def _start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], str] | None:
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    port = free_port()
    process = subprocess.Popen(
        pinned(
            LOAD_CORE,
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                *REDIS_FLAGS,
                "--dir",
                str(workdir),
            ],
        ),
        stdout=log_file(workdir / "redis.log"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return process, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    stop(process)
    raise RuntimeError("redis-server did not start")


def ratio(gateway: float, direct: float) -> str:
    """``gateway / direct`` as ``1.23×`` (or ``-``)."""
    return f"{gateway / direct:.2f}×" if direct else "-"


def table(results: dict[str, Any]) -> str:
    """The markdown report of one run."""
    m = results["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}.",
        "Gateway pinned alone to core 0; emulator (`--no-fragment --no-record`) and load "
        "generator (aiohttp, separate process) share core 1. Each new conversation is 2 "
        "upstream calls (create chat + completion); the direct path makes the same 2 calls.",
        "",
        "| streamed reply (paced: ttfb 200 ms, 20 ms/event, 60 chars) | direct p50 / p99 "
        "| gateway p50 / p99 | overhead p50 / p99 |",
        "|---|---|---|---|",
    ]
    rows = results["latency"]
    for streams in sorted({r["streams"] for r in rows}):
        d = next(r for r in rows if r["streams"] == streams and r["target"] == "direct")
        g = next(r for r in rows if r["streams"] == streams and r["target"] == "gateway")
        for metric, label in (("ttft", "time to first token"), ("total", "total time")):
            dp50, dp99 = d[f"{metric}_p50_ms"], d[f"{metric}_p99_ms"]
            gp50, gp99 = g[f"{metric}_p50_ms"], g[f"{metric}_p99_ms"]
            lines.append(
                f"| {label}, {streams} stream(s) ({g['completed']} req) "
                f"| {dp50:.1f} / {dp99:.1f} ms | {gp50:.1f} / {gp99:.1f} ms "
                f"| {gp50 - dp50:+.1f} / {gp99 - dp99:+.1f} ms |"
            )
    t = results["throughput"]
    rd, rg = t["rps_direct"], t["rps_gateway"]
    cd, cg = t["chunks_direct"], t["chunks_gateway"]
    chunks_per_core = cg["chunks"] / cg["gateway_cpu_s"] if cg["gateway_cpu_s"] else 0.0
    cpu_per_k = 1000 * cg["gateway_cpu_s"] / cg["chunks"] * 1000 if cg["chunks"] else 0.0
    lines += [
        "",
        "| throughput | direct (emulator ceiling) | gateway | ratio |",
        "|---|---|---|---|",
        f"| short non-streamed replies, {rd['wall_s']:.0f} s at {t['concurrency_rps']} "
        f"concurrent | {rd['req_per_s']:,.0f} req/s | {rg['req_per_s']:,.0f} req/s "
        f"| {ratio(rg['req_per_s'], rd['req_per_s'])} |",
        f"| relayed chunks, no pacing, {t['concurrency_chunks']} streams of ~3,000 chars "
        f"| {cd['chunks_per_s']:,.0f} chunks/s | {cg['chunks_per_s']:,.0f} chunks/s "
        f"| {ratio(cg['chunks_per_s'], cd['chunks_per_s'])} |",
        f"| gateway chunks per CPU-second (one core) | | {chunks_per_core:,.0f} | |",
        f"| gateway CPU per 1,000 chunks relayed | | {cpu_per_k:.1f} ms | |",
        f"| gateway CPU per short non-streamed request | | "
        f"{1000 * rg['gateway_cpu_s'] / max(rg['completed'], 1):.2f} ms | |",
        f"| gateway core busy (req/s run / chunks run) | | "
        f"{100 * rg['gateway_cpu_s'] / rg['wall_s']:.0f} % / "
        f"{100 * cg['gateway_cpu_s'] / cg['wall_s']:.0f} % | |",
    ]
    h = results["held"]
    lines += [
        "",
        "| open streams | value |",
        "|---|---|",
        f"| streams held open (first text received) | {h['streams_open']:,} of "
        f"{h['streams_requested']:,} |",
        f"| gateway RSS before / with them open | {h['rss_before_kib'] / 1024:.1f} MiB / "
        f"{h['rss_during_kib'] / 1024:.1f} MiB |",
        f"| memory per open stream | {h['kib_per_stream']:.1f} KiB |",
        "",
        "| conversation store | stored nodes | lookups/s (1 / 32 callers) "
        "| inserts/s (1 / 32 callers) |",
        "|---|---|---|---|",
    ]
    for s in results["stores"]:
        if "skipped" in s:
            lines.append(f"| {s['store']} | skipped: {s['skipped']} | | |")
            continue
        lines.append(
            f"| {s['store']} | {s['nodes']:,} | {s['lookups_per_s_c1']:,.0f} / "
            f"{s['lookups_per_s_c32']:,.0f} | {s['inserts_per_s_c1']:,.0f} / "
            f"{s['inserts_per_s_c32']:,.0f} |"
        )
    return "\n".join(lines)


def render(path: Path) -> int:
    """Print the table of an earlier run's JSON file."""
    print(table(json.loads(path.read_text())))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the suite; print the table; write the JSON file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="less load (about a minute)")
    parser.add_argument("--skip-stores", action="store_true", help="only the gateway parts")
    parser.add_argument(
        "--parts",
        default="latency,throughput,held",
        help="gateway parts to run, comma-separated (while iterating; the table needs all)",
    )
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    parser.add_argument("--render", type=Path, help="only print the table of this JSON file")
    args = parser.parse_args(argv)
    if args.render:
        return render(args.render)
    plan = QUICK if args.quick else FULL
    results: dict[str, Any] = {"machine": machine(), "quick": args.quick, "plan": plan.__dict__}
    results["cores"] = {"gateway": GATEWAY_CORE, "emulator_and_load": LOAD_CORE}
    with tempfile.TemporaryDirectory(prefix="qwen-proxy-bench-") as tmp:
        workdir = Path(tmp)
        services = Services(workdir)
        try:
            services.start()
            print("warming up", file=sys.stderr)
            for target in ("direct", "gateway"):
                load(services, {"scenario": "load", "target": target, "knobs": UNPACED_SHORT}
                     | {"concurrency": 4, "requests": 40})  # fmt: skip
            parts = set(args.parts.split(","))
            if "latency" in parts:
                results["latency"] = run_latency(services, plan)
            if "throughput" in parts:
                results["throughput"] = run_throughput(services, plan)
                results["throughput"]["concurrency_rps"] = plan.rps_concurrency
                results["throughput"]["concurrency_chunks"] = plan.chunks_concurrency
            if "held" in parts:
                results["held"] = run_held(services, plan)
            results["gateway_rss_end_kib"] = rss_kib(services.gateway_pid)
        finally:
            services.stop()
        results["stores"] = [] if args.skip_stores else run_stores(workdir, plan.store_nodes)
    if {"latency", "throughput", "held"} <= set(args.parts.split(",")):
        print(table(results))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / time.strftime("%Y%m%d-%H%M%S.json")
    path.write_text(json.dumps(results, indent=2))
    print(f"\nresults: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
