"""Latency the router adds and the throughput it sustains, against calling the simulator directly,
and what the spend guardrails add on top (budget checks with the local state file and with Redis).

    python bench/router_overhead.py [--seconds 5] [--concurrency 1,16,64]

Processes: the provider simulator (no latency, no faults), three routers (telemetry on, exporting OTLP
to a minimal sink so the sink's own cost stays out of the figure): without guardrails, with an API key,
an RPM limit and tenant and key budgets on the local state file, and the same on a redis-server; and
the load generator — each its own process. For each concurrency the load runs against the simulator
directly and then through each router; the table shows p50/p95/p99 and requests/s and the ratios.
Last line: `RESULT added_p50_ms=<x> added_p99_ms=<y> router_rps_c64=<z> throughput_ratio_c64=<router ÷ direct>
guardrails_local_added_p50_ms=<a> guardrails_redis_added_p50_ms=<b> guardrails_local_rps_ratio_c64=<c>
guardrails_redis_rps_ratio_c64=<d>`.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from common import BENCH, load, percentile, process, routeledger, table

CONFIG = """
providers:
  alpha: {kind: openai, base_url: "${ROUTELEDGER_SIMULATOR_URL:-http://127.0.0.1:9}/alpha/v1", allow_private_network: true}
models:
  alpha-mini:
    {provider: alpha, upstream: gpt-4o-mini, price: {genai_prices: gpt-4o-mini, provider: openai}, context_window: 128000}
  alpha-4o:
    {provider: alpha, upstream: gpt-4o, price: {genai_prices: gpt-4o, provider: openai}, context_window: 128000}
routes:
  bench: {task: bench, chain: [alpha-mini, alpha-4o]}
telemetry: {otlp_endpoint: "${ROUTELEDGER_OTLP_ENDPOINT:-http://127.0.0.1:9/v1/traces}"}
simulator: {default: {output_tokens: 32}}
"""

KEY = "rl-bench-key"
GUARDRAILS = f"""
tenants:
  bench: {{budget: {{daily_usd: 1000000, monthly_usd: 10000000}}}}
keys:
  bench: {{hash: "sha256:{hashlib.sha256(KEY.encode()).hexdigest()}", tenant: bench, rpm: 100000000,
          budget: {{daily_usd: 1000000, monthly_usd: 10000000}}}}
"""


@contextmanager
def redis_server() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Where is my order 54128?"}]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", default="1,16,64")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    workdir = Path(tempfile.mkdtemp())
    plain = workdir / "bench.yaml"
    plain.write_text(CONFIG)
    local = workdir / "local.yaml"
    local.write_text(CONFIG + GUARDRAILS + f"guardrails: {{state: {{path: {workdir / 'state.db'}}}}}\n")
    rows = []
    figures: dict[tuple[str, int], dict[str, float]] = {}
    with ExitStack() as stack:
        sink = stack.enter_context(process([sys.executable, str(BENCH / "raw_responder.py"), "{READY}"]))
        sim = stack.enter_context(process(routeledger("simulate", "--config", str(plain))))
        redis_url = stack.enter_context(redis_server())
        shared = workdir / "redis.yaml"
        shared.write_text(
            CONFIG + GUARDRAILS + f"guardrails: {{state: {{backend: redis, redis_url: '{redis_url}'}}}}\n"
        )
        env = {"ROUTELEDGER_SIMULATOR_URL": sim, "ROUTELEDGER_OTLP_ENDPOINT": sink + "/v1/traces"}
        routers = {
            name: stack.enter_context(process(routeledger("router", "--config", str(path)), env=env))
            for name, path in (("router", plain), ("guardrails local", local), ("guardrails redis", shared))
        }
        auth = {"authorization": f"Bearer {KEY}"}
        direct_body = {"model": "gpt-4o-mini", "messages": MESSAGES}
        routed_body = {"model": "bench", "messages": MESSAGES}
        for url in routers.values():
            load(url, "/v1/chat/completions", routed_body, 8, 1.0, auth)  # warm-up: connections, caches
        for c in levels:
            direct = load(sim, "/alpha/v1/chat/completions", direct_body, c, args.seconds)
            d_rps, d_lat = direct["requests"] / direct["seconds"], direct["latencies_ms"]
            rows.append([c, "direct", *_stats(d_lat), d_rps, direct["errors"], ""])
            base_p50, base_rps = percentile(d_lat, 50), d_rps
            for name, url in routers.items():
                routed = load(url, "/v1/chat/completions", routed_body, c, args.seconds, auth)
                r_rps, r_lat = routed["requests"] / routed["seconds"], routed["latencies_ms"]
                figures[(name, c)] = {
                    "p50": percentile(r_lat, 50),
                    "added_p50": percentile(r_lat, 50) - base_p50,
                    "added_p99": percentile(r_lat, 99) - percentile(d_lat, 99),
                    "rps": r_rps,
                    "ratio": r_rps / base_rps,
                }
                rows.append([c, name, *_stats(r_lat), r_rps, routed["errors"], f"{r_rps / base_rps:.3f}"])
    table(
        f"Router overhead ({args.seconds:g}s per cell, telemetry on; ratio = req/s ÷ direct)",
        ["concurrency", "path", "p50 ms", "p95 ms", "p99 ms", "req/s", "errors", "ratio"],
        rows,
    )
    first, top = levels[0], max(levels)
    base = figures[("router", first)]
    guard_rows = []
    for name in ("guardrails local", "guardrails redis"):
        guard_rows.append(
            [
                name,
                figures[(name, first)]["p50"] - base["p50"],
                figures[(name, top)]["rps"] / figures[("router", top)]["rps"],
            ]
        )
    table(
        "What the guardrails add (against the router without them)",
        ["state", f"added p50 ms (c{first})", f"req/s ratio (c{top})"],
        guard_rows,
    )
    print(
        f"RESULT added_p50_ms={base['added_p50']:.3f} added_p99_ms={base['added_p99']:.3f} "
        f"router_rps_c{top}={figures[('router', top)]['rps']:.0f} "
        f"throughput_ratio_c{top}={figures[('router', top)]['ratio']:.3f} "
        f"guardrails_local_added_p50_ms={guard_rows[0][1]:.3f} guardrails_redis_added_p50_ms={guard_rows[1][1]:.3f} "
        f"guardrails_local_rps_ratio_c{top}={guard_rows[0][2]:.3f} guardrails_redis_rps_ratio_c{top}={guard_rows[1][2]:.3f}"
    )


def _stats(latencies: list[float]) -> list[float]:
    return [percentile(latencies, 50), percentile(latencies, 95), percentile(latencies, 99)]


if __name__ == "__main__":
    main()
