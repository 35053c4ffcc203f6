"""The `routeledger` command. Each command is thin: load the config, call one library function.

A bad config file exits 2 with one line naming the file, the field and the fault.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from analytics.cli import register_commands
from routeledger.config import CONFIG_ENV, DEFAULT_CONFIG_PATH, RouteledgerConfig, load_config
from routeledger.errors import ConfigError, RouteledgerError

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
    from routeledger.serving import serve
    from router.app import create_app

    cfg = _config(config)
    serve(create_app(cfg), host or cfg.router.host, cfg.router.port if port is None else port, ready_file)


@app.command()
def collector(
    config: ConfigOption = Path(DEFAULT_CONFIG_PATH),
    host: HostOption = None,
    port: PortOption = None,
    ready_file: ReadyOption = None,
) -> None:
    """Run the OTLP collector; it owns the store and serves read-only queries to the CLI and dashboard."""
    from collector.service import run_collector

    cfg = _config(config)
    try:
        run_collector(cfg, host or cfg.collector.host, cfg.collector.port if port is None else port, ready_file)
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
    from dashboards.launch import run_dashboard

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


def main() -> None:
    app()
