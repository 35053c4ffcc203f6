"""The `routeledger` command. Each command is thin: load the config, call one library function.

A bad config file exits 2 with one line naming the file, the field and the fault.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from routeledger.analytics.cli import register_commands
from routeledger.config import CONFIG_ENV, DEFAULT_CONFIG_PATH, RouteledgerConfig, load_config
from routeledger.errors import ConfigError, RouteledgerError

if TYPE_CHECKING:
    from routeledger.store import AttemptStore

app = typer.Typer(no_args_is_help=True, add_completion=False, help="An LLM router with a cost ledger behind it.")
config_app = typer.Typer(no_args_is_help=True, help="Configuration file tools.")
register_commands(app)
app.add_typer(config_app, name="config")

err = Console(stderr=True)
out = Console()

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", envvar=CONFIG_ENV, help="The routeledger YAML file.", show_default=True)
]
HostOption = Annotated[str | None, typer.Option(help="Address to listen on (default from the config).")]
PortOption = Annotated[int | None, typer.Option(help="Port to listen on, 0 for any free port.")]
ReadyOption = Annotated[
    Path | None, typer.Option("--ready-file", help="Write {url, pid} here once listening (for supervisors).")
]


def _config(path: Path) -> RouteledgerConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        err.print(f"[red]config error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@app.command()
def router(
    config: ConfigOption = Path(DEFAULT_CONFIG_PATH),
    host: HostOption = None,
    port: PortOption = None,
    ready_file: ReadyOption = None,
) -> None:
    """Run the OpenAI-compatible router."""
    from routeledger.router.ingress.app import create_app
    from routeledger.router.ingress.keeper import ledger_opener
    from routeledger.serving import serve

    cfg = _config(config)
    serve(
        create_app(cfg, ledger=ledger_opener(cfg)),
        host or cfg.router.host,
        cfg.router.port if port is None else port,
        ready_file,
    )


@app.command()
def collector(
    config: ConfigOption = Path(DEFAULT_CONFIG_PATH),
    host: HostOption = None,
    port: PortOption = None,
    ready_file: ReadyOption = None,
) -> None:
    """Run the OTLP collector; it owns the store and serves read-only queries to the CLI and dashboard."""
    from routeledger.collector.service import run_collector

    cfg = _config(config)

    def alert_scheduler(store: AttemptStore) -> Callable[[], None]:
        """The service evaluates the alert rules every `analytics.alerts.interval_s` on its own store."""
        from routeledger.analytics.alerts import start_alert_scheduler

        _, stop = start_alert_scheduler(store, cfg.analytics)  # type: ignore[arg-type]
        return stop.set

    try:
        run_collector(
            cfg,
            host or cfg.collector.host,
            cfg.collector.port if port is None else port,
            ready_file,
            on_store=alert_scheduler if cfg.analytics.alerts.rules else None,
        )
    except RouteledgerError as exc:
        raise _fail(str(exc)) from None


@app.command()
def simulate(
    config: ConfigOption = Path(DEFAULT_CONFIG_PATH),
    host: HostOption = None,
    port: PortOption = None,
    ready_file: ReadyOption = None,
) -> None:
    """Run the provider simulator (fake OpenAI and Anthropic providers with scripted faults)."""
    from routeledger.simulator.server import run_simulator

    cfg = _config(config)
    sim = cfg.simulator
    run_simulator(sim, host or sim.host, sim.port if port is None else port, ready_file)


@app.command()
def demo(
    config: ConfigOption = Path(DEFAULT_CONFIG_PATH),
    requests: Annotated[int, typer.Option("--requests", "-n", min=1, help="Requests to send.")] = 1000,
    rate: Annotated[float, typer.Option(min=1, help="Requests per second offered.")] = 250.0,
    concurrency: Annotated[int, typer.Option(min=1, help="Requests in flight at most.")] = 64,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")] = False,
) -> None:
    """Start simulator, collector and router; send a mixed workload with an outage; print the ledger."""
    from routeledger.demo import DemoError, run_demo

    cfg = _config(config)
    try:
        code = run_demo(cfg, config, requests=requests, rate=rate, concurrency=concurrency, as_json=as_json)
    except DemoError as exc:
        raise _fail(str(exc)) from None
    raise typer.Exit(code)


@app.command()
def dashboard(
    config: ConfigOption = Path(DEFAULT_CONFIG_PATH),
    host: HostOption = None,
    port: PortOption = None,
    ready_file: ReadyOption = None,
    allow_anonymous: Annotated[
        bool, typer.Option("--allow-anonymous", help="Serve beyond localhost without a password.")
    ] = False,
) -> None:
    """Run the FinOps dashboard (Streamlit) over the ledger: the running service's store or ClickHouse."""
    from routeledger.dashboards.launch import run_dashboard

    cfg = _config(config)
    dash = cfg.dashboard
    try:
        code = run_dashboard(
            cfg,
            config,
            host or dash.host,
            dash.port if port is None else port,
            ready_file,
            allow_anonymous=allow_anonymous,
        )
    except RouteledgerError as exc:
        raise _fail(str(exc), 2) from None
    raise typer.Exit(code)


@config_app.command("check")
def config_check(config: ConfigOption = Path(DEFAULT_CONFIG_PATH)) -> None:
    """Validate the configuration file (exit 2 with the faulty field if invalid)."""
    cfg = _config(config)
    out.print(
        f"{config}: ok ({len(cfg.providers)} providers, {len(cfg.models)} models, {len(cfg.routes)} routes)",
        highlight=False,
    )


keys_app = typer.Typer(no_args_is_help=True, help="API keys for the router.")
app.add_typer(keys_app, name="keys")


@keys_app.command("new")
def keys_new(
    name: Annotated[str, typer.Argument(help="The key's name in the config (it names the key in spans and rows).")],
    tenant: Annotated[str, typer.Option(help="The tenant the key spends for.")],
) -> None:
    """Make a new API key: print it once, and the YAML entry (its SHA-256) to paste under `keys:`."""
    import secrets

    from routeledger.guardrails import hash_key

    key = "rl-" + secrets.token_urlsafe(32)
    err.print("The key (shown once; the config keeps only its hash):", highlight=False)
    print(key)
    err.print("Add to routeledger.yaml:", highlight=False)
    err.print(f"keys:\n  {name}:\n    hash: {hash_key(key)}\n    tenant: {tenant}", highlight=False, soft_wrap=True)


def main() -> None:
    app()


@app.command()
def status(
    config: ConfigOption = Path(DEFAULT_CONFIG_PATH),
    url: Annotated[str | None, typer.Option(help="Collector URL (default: the running one, else the config).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw metrics as JSON.")] = False,
) -> None:
    """The collector's health: store up, spool depth and budget, drained, rejected and failed rows."""
    import orjson

    from routeledger.status import collector_status, collector_url

    try:
        report = collector_status(url or collector_url(_config(config)))
    except RouteledgerError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        sys.stdout.write(orjson.dumps({"url": report.url, "metrics": report.metrics}).decode() + "\n")
        return
    out.print(f"collector {report.url}", highlight=False)
    for label, value in report.rows():
        out.print(f"  {label:<40} {value:>14,.0f}", highlight=False)
