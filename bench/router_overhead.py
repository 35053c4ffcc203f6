"""Latency the router adds and the throughput it sustains, against calling the simulator directly.

    python bench/router_overhead.py [--seconds 5] [--concurrency 1,16,64]

Processes: the provider simulator (no latency, no faults), the router (telemetry on, exporting OTLP to
a minimal sink so the sink's own cost stays out of the figure), and the load generator — each its own
process. For each concurrency the load runs against the simulator directly and then through the router;
the table shows p50/p95/p99 and requests/s of both and their ratio. Last line:
`RESULT added_p50_ms=<x> added_p99_ms=<y> router_rps_c64=<z> throughput_ratio_c64=<router ÷ direct>`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
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

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Where is my order 54128?"}]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", default="1,16,64")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    config = Path(tempfile.mkdtemp()) / "bench.yaml"
    config.write_text(CONFIG)
    rows = []
    figures: dict[int, dict[str, float]] = {}
    with (
        process([sys.executable, str(BENCH / "raw_responder.py"), "{READY}"]) as sink,
        process(routeledger("simulate", "--config", str(config))) as sim,
    ):
        env = {"ROUTELEDGER_SIMULATOR_URL": sim, "ROUTELEDGER_OTLP_ENDPOINT": sink + "/v1/traces"}
        with process(routeledger("router", "--config", str(config)), env=env) as router:
            direct_body = {"model": "gpt-4o-mini", "messages": MESSAGES}
            routed_body = {"model": "bench", "messages": MESSAGES}
            load(router, "/v1/chat/completions", routed_body, 8, 1.0)  # warm-up: connections, caches
            for c in levels:
                direct = load(sim, "/alpha/v1/chat/completions", direct_body, c, args.seconds)
                routed = load(router, "/v1/chat/completions", routed_body, c, args.seconds)
                d_rps, r_rps = direct["requests"] / direct["seconds"], routed["requests"] / routed["seconds"]
                d_lat, r_lat = direct["latencies_ms"], routed["latencies_ms"]
                figures[c] = {
                    "added_p50": percentile(r_lat, 50) - percentile(d_lat, 50),
                    "added_p99": percentile(r_lat, 99) - percentile(d_lat, 99),
                    "rps": r_rps,
                    "ratio": r_rps / d_rps,
                }
                for name, lat, rps, errors in (
                    ("direct", d_lat, d_rps, direct["errors"]),
                    ("router", r_lat, r_rps, routed["errors"]),
                ):
                    rows.append([c, name, percentile(lat, 50), percentile(lat, 95), percentile(lat, 99), rps, errors])
                rows.append([c, "router ÷ direct", "", "", "", r_rps / d_rps, ""])
    table(
        f"Router overhead ({args.seconds:g}s per cell, telemetry on)",
        ["concurrency", "path", "p50 ms", "p95 ms", "p99 ms", "req/s", "errors"],
        rows,
    )
    top = max(levels)
    print(
        f"RESULT added_p50_ms={figures[levels[0]]['added_p50']:.3f} added_p99_ms={figures[levels[0]]['added_p99']:.3f} "
        f"router_rps_c{top}={figures[top]['rps']:.0f} throughput_ratio_c{top}={figures[top]['ratio']:.3f}"
    )


if __name__ == "__main__":
    main()
