"""`routeledger demo`: the whole pipeline on one machine, end to end, in real processes.

    simulator ──▶ router ──OTLP──▶ collector ──▶ chDB (.routeledger/)
        ▲            ▲                 │
        └── workload ┘                 └── read-only query endpoint ──▶ analytics tables

Each stage runs as its own process on a free 127.0.0.1 port, exactly as a deployment would run
it; the demo supervises them, offers a mixed workload at a steady rate (several routes, tenants and
features, two providers, one provider outage window from the config's simulator faults), waits
until every attempt the router reported is stored, then prints the ledger.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import httpx
from rich.console import Console

from routeledger.config import RouteledgerConfig

#: Longest the demo waits for a stage to start listening (chDB start-up included), in seconds.
START_TIMEOUT_S = 60.0
#: Longest the demo waits for the collector to store every attempt after the workload, in seconds.
DRAIN_TIMEOUT_S = 60.0

SIMULATOR_URL_ENV = "ROUTELEDGER_SIMULATOR_URL"
OTLP_ENDPOINT_ENV = "ROUTELEDGER_OTLP_ENDPOINT"
STATE_PATH_ENV = "ROUTELEDGER_STATE_PATH"

#: (route, tenant, feature, prompt) mixes the workload cycles through.
WORKLOAD: tuple[tuple[str, str, str, str], ...] = (
    ("support", "acme", "chat", "Where is my order 54128? It was due yesterday."),
    ("support", "globex", "chat", "How do I return a pair of shoes that do not fit?"),
    ("summarize", "acme", "ticket-summary", "Summarize: the customer reports the app crashes on login " * 6),
    ("summarize", "initech", "ticket-summary", "Summarize this thread about a delayed refund. " * 10),
    (
        "extract",
        "globex",
        "invoice-extract",
        "Extract the total and the due date: Invoice 991, total 120 EUR, due 3 May.",
    ),
    ("draft", "initech", "reply-draft", "Draft a short polite reply confirming the meeting on Tuesday."),
    ("support", "initech", "chat", "Why did my payment fail?"),
    ("extract", "acme", "invoice-extract", "Extract vendor and amount: ACME Corp, 4,300 USD."),
)


class DemoError(RuntimeError):
    """The demo could not run (a stage failed to start, attempts never arrived)."""


@dataclass(slots=True)
class Stage:
    name: str
    process: subprocess.Popen[bytes]
    ready_file: Path
    log: IO[bytes]
    url: str = ""


@dataclass(slots=True)
class WorkloadResult:
    sent: int = 0
    ok: int = 0
    errors: dict[int, int] = field(default_factory=dict)
    attempts: int = 0
    fallbacks: int = 0
    elapsed_s: float = 0.0


def run_demo(
    config: RouteledgerConfig,
    config_path: Path,
    *,
    requests: int,
    rate: float,
    concurrency: int,
    as_json: bool,
    console: Console | None = None,
) -> int:
    # Tables are wide; without a terminal rich would assume 80 columns and elide the headers.
    console = console or Console(stderr=as_json, width=None if sys.stdout.isatty() else 160)
    workdir = Path(tempfile.mkdtemp(prefix="routeledger-demo-"))
    stages: list[Stage] = []
    try:
        with console.status("starting simulator and collector…"):
            sim = _start("simulator", ["simulate"], config_path, workdir, {})
            stages.append(sim)
            col = _start("collector", ["collector"], config_path, workdir, {})
            stages.append(col)
            _wait_ready([sim, col])
        env = {
            SIMULATOR_URL_ENV: sim.url,
            OTLP_ENDPOINT_ENV: col.url + "/v1/traces",
            STATE_PATH_ENV: str(workdir / "router-state.db"),  # breakers from a previous run stay there
        }
        with console.status("starting router…"):
            rtr = _start("router", ["router"], config_path, workdir, env)
            stages.append(rtr)
            _wait_ready([rtr])
        console.print(f"simulator {sim.url} · collector {col.url} · router {rtr.url}", highlight=False)
        run_start = datetime.now(UTC)
        httpx.post(sim.url + "/_sim/reset", timeout=5).raise_for_status()
        with console.status(f"sending {requests} requests at {rate:g}/s…"):
            result = asyncio.run(_workload(rtr.url, requests, rate, concurrency))
        console.print(
            f"sent {result.sent} requests in {result.elapsed_s:.1f}s: {result.ok} answered, "
            f"{sum(result.errors.values())} errors {dict(sorted(result.errors.items())) or ''}, "
            f"{result.attempts} upstream attempts, {result.fallbacks} served by a fallback",
            highlight=False,
        )
        with console.status("waiting until every attempt is stored…"):
            stored = _wait_stored(col.url, run_start, result.attempts)
        code = _report(col.url, run_start, result, stored, as_json, console)
    except BaseException:
        _stop(stages)
        console.print(f"logs of every stage are in {workdir}", highlight=False)
        raise
    _stop(stages)
    shutil.rmtree(workdir, ignore_errors=True)
    return code


def _start(name: str, command: list[str], config_path: Path, workdir: Path, env: dict[str, str]) -> Stage:
    ready = workdir / f"{name}.ready"
    log = (workdir / f"{name}.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "routeledger",
            *command,
            "--config",
            str(config_path),
            "--port",
            "0",
            "--ready-file",
            str(ready),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **env},
    )
    return Stage(name, process, ready, log)


def _wait_ready(stages: list[Stage]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    for stage in stages:
        while not stage.ready_file.exists():
            if stage.process.poll() is not None:
                raise DemoError(f"the {stage.name} exited during start-up:\n{_tail(stage)}")
            if time.monotonic() > deadline:
                raise DemoError(f"the {stage.name} did not start within {START_TIMEOUT_S:.0f}s:\n{_tail(stage)}")
            time.sleep(0.02)
        stage.url = json.loads(stage.ready_file.read_text(encoding="utf-8"))["url"]


def _tail(stage: Stage) -> str:
    stage.log.flush()
    path = Path(stage.log.name)
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-20:])


def _stop(stages: list[Stage]) -> None:
    for stage in reversed(stages):
        if stage.process.poll() is None:
            stage.process.send_signal(signal.SIGTERM)
    for stage in reversed(stages):
        try:
            stage.process.wait(15)
        except subprocess.TimeoutExpired:
            stage.process.kill()
            stage.process.wait()
        stage.log.close()


async def _workload(router_url: str, requests: int, rate: float, concurrency: int) -> WorkloadResult:
    result = WorkloadResult()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    gate = asyncio.Semaphore(concurrency)
    started = time.monotonic()

    async with httpx.AsyncClient(base_url=router_url, limits=limits, timeout=60) as client:

        async def one(i: int) -> None:
            route, tenant, feature, prompt = WORKLOAD[i % len(WORKLOAD)]
            body: dict[str, Any] = {
                "model": route,
                "messages": [
                    {"role": "system", "content": "You are a concise assistant for an online store."},
                    {"role": "user", "content": f"{prompt} (#{i})"},
                ],
                "max_tokens": 256,
            }
            headers = {"x-routeledger-tenant": tenant, "x-routeledger-feature": feature}
            async with gate:
                response = await client.post("/v1/chat/completions", json=body, headers=headers)
            result.sent += 1
            result.attempts += int(response.headers.get("x-routeledger-attempts", "0"))
            if response.status_code == 200:
                result.ok += 1
                if response.headers.get("x-routeledger-fallback-reason"):
                    result.fallbacks += 1
            else:
                result.errors[response.status_code] = result.errors.get(response.status_code, 0) + 1

        tasks = []
        for i in range(requests):
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    result.elapsed_s = time.monotonic() - started
    return result


def _count_stored(collector_url: str, since: datetime) -> int:
    from routeledger.store.service import ServiceAttemptStore

    store = ServiceAttemptStore(collector_url)
    try:
        table = store.query(
            "SELECT count() AS n FROM llm_attempts WHERE ts >= {since:DateTime64(6, 'UTC')}", {"since": since}
        )
    finally:
        store.close()
    return int(table.column("n")[0].as_py())


def _wait_stored(collector_url: str, since: datetime, expected: int) -> int:
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    stored = _count_stored(collector_url, since)
    while stored < expected:
        if time.monotonic() > deadline:
            raise DemoError(f"only {stored} of {expected} attempts were stored after {DRAIN_TIMEOUT_S:.0f}s")
        time.sleep(0.1)
        stored = _count_stored(collector_url, since)
    return stored


def _report(
    collector_url: str,
    since: datetime,
    result: WorkloadResult,
    stored: int,
    as_json: bool,
    console: Console,
) -> int:
    from routeledger.analytics.jobs import Window, cost, fallbacks
    from routeledger.analytics.render import print_table, to_records
    from routeledger.store.service import ServiceAttemptStore

    store = ServiceAttemptStore(collector_url)
    window = Window(since, datetime.now(UTC) + timedelta(seconds=1))
    try:
        cost_table = cost(store, ("route", "task"), window)
        fallback_table = fallbacks(store, window)
    finally:
        store.close()
    flagged = [r for r in to_records(fallback_table) if r["flagged"]]
    if as_json:
        document = {
            "requests": result.sent,
            "answered": result.ok,
            "errors": {str(k): v for k, v in result.errors.items()},
            "attempts": result.attempts,
            "stored_attempts": stored,
            "elapsed_s": round(result.elapsed_s, 3),
            "cost_by_route_task": to_records(cost_table),
            "fallbacks": to_records(fallback_table),
            "flags": flagged,
        }
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        console.print(f"stored {stored} of {result.attempts} attempts (every one accounted for)", highlight=False)
        print_table(console, cost_table, "Cost by route and task")
        print_table(console, fallback_table, "Fallback and retry share (flag: above 5%)")
        for row in flagged:
            label = "overall" if row["scope"] == "overall" else f"{row['scope']} {row['name']}"
            console.print(
                f"[yellow]FLAG[/yellow] fallback share {row['fallback_share']:.1%} for {label} "
                f"({row['fallbacks']} of {row['requests']} requests) is above 5%",
                highlight=False,
            )
    return 0
