"""The `routeledger` command. Each command is thin: load the config, call one library function.

A bad config file exits 2 with one line naming the file, the field and the fault.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from routeledger.config import CONFIG_ENV, DEFAULT_CONFIG_PATH, RouteledgerConfig, load_config
from routeledger.errors import ConfigError, RouteledgerError

if TYPE_CHECKING:
    import pyarrow as pa

    from analytics.jobs import Filters, Window

app = typer.Typer(no_args_is_help=True, add_completion=False, help="An LLM router with a cost ledger behind it.")
analytics_app = typer.Typer(no_args_is_help=True, help="Questions the ledger answers.")
config_app = typer.Typer(no_args_is_help=True, help="Configuration file tools.")
app.add_typer(analytics_app, name="analytics")
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


WindowOption = Annotated[str, typer.Option("--window", "-w", help="How far back: 30m, 24h, 7d, 4w, or 'all'.")]
FilterOption = Annotated[list[str] | None, typer.Option(help="Only these values (repeatable).")]


def _filters(
    route: list[str] | None,
    task: list[str] | None,
    tenant: list[str] | None,
    feature: list[str] | None,
    model: list[str] | None,
    provider: list[str] | None,
) -> Filters:
    from analytics.jobs import Filters

    return Filters(
        routes=tuple(route or ()),
        tasks=tuple(task or ()),
        tenants=tuple(tenant or ()),
        features=tuple(feature or ()),
        models=tuple(model or ()),
        providers=tuple(provider or ()),
    )


def _window(spec: str) -> Window:
    from analytics.jobs import Window

    return Window.all_time() if spec.strip().lower() == "all" else Window.last(spec)


def _emit(table: pa.Table, title: str, as_json: bool, as_csv: bool) -> None:
    from analytics.render import print_table, to_csv, to_json

    if as_json:
        sys.stdout.write(to_json(table) + "\n")
    elif as_csv:
        sys.stdout.write(to_csv(table))
    else:
        print_table(out, table, title)


@analytics_app.command("cost")
def analytics_cost(
    config: ConfigOption = Path(DEFAULT_CONFIG_PATH),
    by: Annotated[str, typer.Option(help="Group by: route,task,tenant,feature,model,provider.")] = "route",
    window: WindowOption = "all",
    route: FilterOption = None,
    task: FilterOption = None,
    tenant: FilterOption = None,
    feature: FilterOption = None,
    model: FilterOption = None,
    provider: FilterOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    as_csv: Annotated[bool, typer.Option("--csv")] = False,
) -> None:
    """Spend by route, task, tenant, feature, model or provider."""
    from analytics.jobs import AnalyticsInputError, cost
    from routeledger.store import open_reader

    cfg = _config(config)
    try:
        store = open_reader(cfg)
        try:
            filters = _filters(route, task, tenant, feature, model, provider)
            table = cost(store, by.split(","), _window(window), filters)
        finally:
            store.close()
    except (AnalyticsInputError, RouteledgerError) as exc:
        raise _fail(str(exc), 2 if isinstance(exc, AnalyticsInputError) else 1) from None
    _emit(table, f"Cost by {by}", as_json, as_csv)


@analytics_app.command("fallbacks")
def analytics_fallbacks(
    config: ConfigOption = Path(DEFAULT_CONFIG_PATH),
    window: WindowOption = "all",
    threshold: Annotated[float, typer.Option(help="Flag shares above this (0..1).")] = 0.05,
    min_requests: Annotated[int, typer.Option(help="Flag only with at least this many requests.")] = 20,
    route: FilterOption = None,
    task: FilterOption = None,
    tenant: FilterOption = None,
    feature: FilterOption = None,
    model: FilterOption = None,
    provider: FilterOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    as_csv: Annotated[bool, typer.Option("--csv")] = False,
) -> None:
    """Fallback and retry share overall, by route and by primary model; shares above 5% flagged."""
    from analytics.jobs import AnalyticsInputError, fallbacks
    from routeledger.store import open_reader

    cfg = _config(config)
    try:
        store = open_reader(cfg)
        try:
            table = fallbacks(
                store,
                _window(window),
                _filters(route, task, tenant, feature, model, provider),
                threshold,
                min_requests,
            )
        finally:
            store.close()
    except (AnalyticsInputError, RouteledgerError) as exc:
        raise _fail(str(exc), 2 if isinstance(exc, AnalyticsInputError) else 1) from None
    _emit(table, "Fallback and retry share", as_json, as_csv)


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
