"""Provider simulator throughput on its no-fault path, against a raw asyncio responder.

    python bench/simulator.py [--seconds 5] [--connections 32]

Both servers run as their own process; the load generator runs in a third. The last line is
`RESULT simulator_rps=<x> raw_rps=<y> ratio=<x/y>`; the target is simulator_rps ≥ 10,000.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from common import BENCH, load, percentile, process, routeledger, table

CONFIG = """
providers: {p: {kind: openai, base_url: "http://127.0.0.1:9/v1", allow_private_network: true}}
models: {m: {provider: p, upstream: gpt-4o-mini, price: {input_per_mtok: 1, output_per_mtok: 1}, context_window: 1000}}
routes: {r: {task: t, chain: [m]}}
simulator: {default: {output_tokens: 32}}
"""

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Where is my order 54128?"}]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    config = Path(tempfile.mkdtemp()) / "sim.yaml"
    config.write_text(CONFIG)
    rows = []
    results = {}
    with process([sys.executable, str(BENCH / "raw_responder.py"), "{READY}"]) as url:
        load(url, "/", BODY, args.connections, 1.0)  # warm-up
        results["raw asyncio responder"] = load(url, "/", BODY, args.connections, args.seconds)
    with process(routeledger("simulate", "--config", str(config))) as url:
        load(url, "/alpha/v1/chat/completions", BODY, args.connections, 1.0)
        results["routeledger simulate"] = load(url, "/alpha/v1/chat/completions", BODY, args.connections, args.seconds)
    for name, r in results.items():
        rps = r["requests"] / r["seconds"]
        lat = r["latencies_ms"]
        rows.append([name, r["requests"], r["errors"], rps, percentile(lat, 50), percentile(lat, 99)])
    table(
        f"HTTP throughput, {args.connections} keep-alive connections, {args.seconds:g}s",
        ["server", "requests", "errors", "req/s", "p50 ms", "p99 ms"],
        rows,
    )
    sim, raw = rows[1][3], rows[0][3]
    print(f"RESULT simulator_rps={sim:.0f} raw_rps={raw:.0f} ratio={sim / raw:.2f}")


if __name__ == "__main__":
    main()
