"""The analytics commands: `routeledger analytics <job>`, `alerts check`, `report weekly`,
`export parquet` and `query`. Each is thin: load the config, open the reader, call one function.

Bad input (an unknown dimension, window, grouping) exits 2 with one line saying what is allowed;
typer itself refuses unknown commands and options the same way.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from routeledger.config import CONFIG_ENV, DEFAULT_CONFIG_PATH, RouteledgerConfig, load_config
from routeledger.errors import ConfigError, RouteledgerError

if TYPE_CHECKING:
    import pyarrow as pa

    from routeledger.analytics.scope import Filters, Window
    from routeledger.store import AttemptStore

analytics_app = typer.Typer(no_args_is_help=True, help="Questions the ledger answers.")
alerts_app = typer.Typer(no_args_is_help=True, help="Alert rules from the config's analytics.alerts.")
report_app = typer.Typer(no_args_is_help=True, help="Reports for people.")
export_app = typer.Typer(no_args_is_help=True, help="Export the ledger for ad-hoc tools.")

err = Console(stderr=True)
out = Console()

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", envvar=CONFIG_ENV, help="The routeledger YAML file.", show_default=True)
]
WindowOption = Annotated[
    str, typer.Option("--window", "-w", help="30m, 24h, 7d, 4w, 'all', or SINCE..UNTIL (ISO-8601).")
]
FilterOption = Annotated[list[str] | None, typer.Option(help="Only these values (repeatable).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON records.")]
CsvOption = Annotated[bool, typer.Option("--csv", help="Print CSV.")]
ByOption = Annotated[str, typer.Option(help="Group by: route,task,tenant,feature,model,provider.")]

DEFAULT_CONFIG = Path(DEFAULT_CONFIG_PATH)


def register_commands(app: typer.Typer) -> None:
    """Attach every analytics command to the root `routeledger` app."""
    app.add_typer(analytics_app, name="analytics")
    app.add_typer(alerts_app, name="alerts")
    app.add_typer(report_app, name="report")
    app.add_typer(export_app, name="export")
    app.command("query")(query)


def _config(path: Path) -> RouteledgerConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        err.print(f"[red]config error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def _guard() -> Iterator[None]:
    """Input errors exit 2, store and query errors exit 1, each as one line."""
    from routeledger.analytics.scope import AnalyticsInputError

    try:
        yield
    except AnalyticsInputError as exc:
        raise _fail(str(exc), 2) from None
    except RouteledgerError as exc:
        raise _fail(str(exc)) from None


def _filters(
    route: list[str] | None,
    task: list[str] | None,
    tenant: list[str] | None,
    feature: list[str] | None,
    model: list[str] | None,
    provider: list[str] | None,
) -> Filters:
    from routeledger.analytics.scope import Filters

    return Filters(
        routes=tuple(route or ()),
        tasks=tuple(task or ()),
        tenants=tuple(tenant or ()),
        features=tuple(feature or ()),
        models=tuple(model or ()),
        providers=tuple(provider or ()),
    )


def _window(spec: str) -> Window:
    from routeledger.analytics.scope import Window

    return Window.parse(spec)


def _emit(table: pa.Table, title: str, as_json: bool, as_csv: bool) -> None:
    from routeledger.analytics.render import print_table, to_csv, to_json

    if as_json:
        sys.stdout.write(to_json(table) + "\n")
    elif as_csv:
        sys.stdout.write(to_csv(table))
    else:
        print_table(out, table, title)


def _run(
    config: Path, title: str, as_json: bool, as_csv: bool, job: Callable[[AttemptStore, RouteledgerConfig], pa.Table]
) -> None:
    from routeledger.store import open_reader

    cfg = _config(config)
    with _guard():
        store = open_reader(cfg)
        try:
            table = job(store, cfg)
        finally:
            store.close()
    _emit(table, title, as_json, as_csv)


@analytics_app.command("cost")
def analytics_cost(
    config: ConfigOption = DEFAULT_CONFIG,
    by: ByOption = "route",
    window: WindowOption = "all",
    route: FilterOption = None,
    task: FilterOption = None,
    tenant: FilterOption = None,
    feature: FilterOption = None,
    model: FilterOption = None,
    provider: FilterOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Spend by route, task, tenant, feature, model or provider."""
    from routeledger.analytics.jobs import cost

    with _guard():
        win, flt = _window(window), _filters(route, task, tenant, feature, model, provider)
    _run(config, f"Cost by {by}", as_json, as_csv, lambda s, _: cost(s, by, win, flt))


@analytics_app.command("cost-per-answer")
def analytics_cost_per_answer(
    config: ConfigOption = DEFAULT_CONFIG,
    by: ByOption = "route",
    window: WindowOption = "all",
    route: FilterOption = None,
    task: FilterOption = None,
    tenant: FilterOption = None,
    feature: FilterOption = None,
    model: FilterOption = None,
    provider: FilterOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Cost per successful answer including its retries and fallbacks."""
    from routeledger.analytics.jobs import cost_per_answer

    with _guard():
        win, flt = _window(window), _filters(route, task, tenant, feature, model, provider)
    _run(config, f"Cost per answer by {by}", as_json, as_csv, lambda s, _: cost_per_answer(s, by, win, flt))


@analytics_app.command("spend")
def analytics_spend(
    config: ConfigOption = DEFAULT_CONFIG,
    bucket: Annotated[str, typer.Option(help="minute, hour, day or week.")] = "hour",
    by: Annotated[str, typer.Option(help="Split by these dimensions (default: one series).")] = "",
    window: WindowOption = "7d",
    route: FilterOption = None,
    task: FilterOption = None,
    tenant: FilterOption = None,
    feature: FilterOption = None,
    model: FilterOption = None,
    provider: FilterOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Spend over time."""
    from routeledger.analytics.jobs import spend_over_time

    with _guard():
        win, flt = _window(window), _filters(route, task, tenant, feature, model, provider)
    _run(config, f"Spend per {bucket}", as_json, as_csv, lambda s, _: spend_over_time(s, bucket, by, win, flt))


@analytics_app.command("fallbacks")
def analytics_fallbacks(
    config: ConfigOption = DEFAULT_CONFIG,
    window: WindowOption = "all",
    threshold: Annotated[float, typer.Option(help="Flag shares above this (0..1).")] = 0.05,
    min_requests: Annotated[int, typer.Option(help="Flag only with at least this many requests.")] = 20,
    route: FilterOption = None,
    task: FilterOption = None,
    tenant: FilterOption = None,
    feature: FilterOption = None,
    model: FilterOption = None,
    provider: FilterOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Fallback and retry share overall, by route and by primary model; shares above 5% flagged."""
    from routeledger.analytics.jobs import fallbacks

    with _guard():
        win, flt = _window(window), _filters(route, task, tenant, feature, model, provider)
    _run(
        config,
        "Fallback and retry share",
        as_json,
        as_csv,
        lambda s, _: fallbacks(s, win, flt, threshold, min_requests),
    )


@analytics_app.command("fallback-share")
def analytics_fallback_share(
    config: ConfigOption = DEFAULT_CONFIG,
    by: Annotated[str, typer.Option(help="overall, route, task, tenant, feature, model, provider or hour.")] = "hour",
    window: WindowOption = "all",
    threshold: Annotated[float, typer.Option(help="Flag shares above this (0..1).")] = 0.05,
    min_requests: Annotated[int, typer.Option(help="Flag only with at least this many requests.")] = 20,
    route: FilterOption = None,
    task: FilterOption = None,
    tenant: FilterOption = None,
    feature: FilterOption = None,
    model: FilterOption = None,
    provider: FilterOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Fallback and retry share by model, task, provider or hour of day."""
    from routeledger.analytics.jobs import fallback_share

    with _guard():
        win, flt = _window(window), _filters(route, task, tenant, feature, model, provider)
    _run(
        config,
        f"Fallback and retry share by {by}",
        as_json,
        as_csv,
        lambda s, _: fallback_share(s, by, win, flt, threshold, min_requests),
    )


@analytics_app.command("transitions")
def analytics_transitions(
    config: ConfigOption = DEFAULT_CONFIG,
    by: ByOption = "route",
    window: WindowOption = "all",
    route: FilterOption = None,
    task: FilterOption = None,
    tenant: FilterOption = None,
    feature: FilterOption = None,
    model: FilterOption = None,
    provider: FilterOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Chain transitions per request."""
    from routeledger.analytics.jobs import transitions

    with _guard():
        win, flt = _window(window), _filters(route, task, tenant, feature, model, provider)
    _run(config, f"Transitions per request by {by}", as_json, as_csv, lambda s, _: transitions(s, by, win, flt))


@analytics_app.command("quality")
def analytics_quality(
    config: ConfigOption = DEFAULT_CONFIG,
    by: ByOption = "model",
    window: WindowOption = "all",
    long_tokens: Annotated[int | None, typer.Option(help="Over-long above this many output tokens.")] = None,
    route: FilterOption = None,
    task: FilterOption = None,
    tenant: FilterOption = None,
    feature: FilterOption = None,
    model: FilterOption = None,
    provider: FilterOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Share of empty, truncated and over-long answers."""
    from routeledger.analytics.jobs import answer_quality

    with _guard():
        win, flt = _window(window), _filters(route, task, tenant, feature, model, provider)
    _run(
        config,
        f"Answer quality by {by}",
        as_json,
        as_csv,
        lambda s, cfg: answer_quality(s, by, win, flt, long_tokens or cfg.analytics.long_answer_tokens),
    )


@analytics_app.command("blocks")
def analytics_blocks(
    config: ConfigOption = DEFAULT_CONFIG,
    by: ByOption = "route",
    window: WindowOption = "all",
    route: FilterOption = None,
    task: FilterOption = None,
    tenant: FilterOption = None,
    feature: FilterOption = None,
    model: FilterOption = None,
    provider: FilterOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Requests refused by the spend guardrails, by reason, and the block rate."""
    from routeledger.analytics.jobs import guardrail_blocks

    with _guard():
        win, flt = _window(window), _filters(route, task, tenant, feature, model, provider)
    _run(config, f"Guardrail blocks by {by}", as_json, as_csv, lambda s, _: guardrail_blocks(s, by, win, flt))


@analytics_app.command("latency")
def analytics_latency(
    config: ConfigOption = DEFAULT_CONFIG,
    by: ByOption = "model",
    window: WindowOption = "all",
    route: FilterOption = None,
    task: FilterOption = None,
    tenant: FilterOption = None,
    feature: FilterOption = None,
    model: FilterOption = None,
    provider: FilterOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Latency p50/p95/p99 and time to first token."""
    from routeledger.analytics.jobs import latency

    with _guard():
        win, flt = _window(window), _filters(route, task, tenant, feature, model, provider)
    _run(config, f"Latency by {by}", as_json, as_csv, lambda s, _: latency(s, by, win, flt))


@analytics_app.command("expected-cost")
def analytics_expected_cost(
    config: ConfigOption = DEFAULT_CONFIG,
    by: ByOption = "route",
    window: WindowOption = "7d",
    weeks: Annotated[int | None, typer.Option(help="Weeks of history for the probabilities.")] = None,
    route: FilterOption = None,
    task: FilterOption = None,
    tenant: FilterOption = None,
    feature: FilterOption = None,
    model: FilterOption = None,
    provider: FilterOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Expected cost per request E = C1 + Pfb*C2 + Prt*Crt next to the observed mean."""
    from routeledger.analytics.jobs import expected_cost

    with _guard():
        win, flt = _window(window), _filters(route, task, tenant, feature, model, provider)
    _run(
        config,
        f"Expected cost per request by {by}",
        as_json,
        as_csv,
        lambda s, cfg: expected_cost(s, by, win, flt, weeks or cfg.analytics.expected_cost_weeks),
    )


@analytics_app.command("double-charges")
def analytics_double_charges(
    config: ConfigOption = DEFAULT_CONFIG,
    window: WindowOption = "7d",
    limit: Annotated[int, typer.Option(help="At most this many requests.")] = 50,
    route: FilterOption = None,
    task: FilterOption = None,
    tenant: FilterOption = None,
    feature: FilterOption = None,
    model: FilterOption = None,
    provider: FilterOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Requests that paid for more than one billable attempt, and why."""
    from routeledger.analytics.jobs import double_charges

    with _guard():
        win, flt = _window(window), _filters(route, task, tenant, feature, model, provider)
    _run(config, "Double charges", as_json, as_csv, lambda s, _: double_charges(s, win, flt, limit))


@analytics_app.command("unit-economics")
def analytics_unit_economics(
    config: ConfigOption = DEFAULT_CONFIG,
    by: Annotated[str, typer.Option(help="task or feature.")] = "task",
    window: WindowOption = "30d",
    route: FilterOption = None,
    task: FilterOption = None,
    tenant: FilterOption = None,
    feature: FilterOption = None,
    model: FilterOption = None,
    provider: FilterOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Cost per task or feature against its configured price: margin and the 20-30% buffer."""
    from routeledger.analytics.jobs import unit_economics

    with _guard():
        win, flt = _window(window), _filters(route, task, tenant, feature, model, provider)

    def job(store: AttemptStore, cfg: RouteledgerConfig) -> pa.Table:
        unit = cfg.analytics.unit_economics
        table = unit.tasks if by == "task" else unit.features
        prices: dict[str, Decimal] = {name: p.price_usd for name, p in table.items()}
        return unit_economics(store, prices, by, win, flt, unit.buffer_min)

    _run(config, f"Unit economics by {by}", as_json, as_csv, job)


@analytics_app.command("request")
def analytics_request(
    request_id: Annotated[str, typer.Argument(help="The x-request-id / routeledger request id.")],
    config: ConfigOption = DEFAULT_CONFIG,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Every attempt of one request, in order."""
    from routeledger.analytics.jobs import request_attempts

    _run(config, f"Request {request_id}", as_json, as_csv, lambda s, _: request_attempts(s, request_id))


@analytics_app.command("budget")
def analytics_budget(
    config: ConfigOption = DEFAULT_CONFIG,
    by: Annotated[str, typer.Option(help="tenant, key (API key name), feature or route.")] = "tenant",
    route: FilterOption = None,
    task: FilterOption = None,
    tenant: FilterOption = None,
    feature: FilterOption = None,
    model: FilterOption = None,
    provider: FilterOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Spend today, this week and this month (UTC) per tenant or API key."""
    from routeledger.analytics.jobs import budget_spend

    with _guard():
        flt = _filters(route, task, tenant, feature, model, provider)
    _run(config, f"Budget spend by {by}", as_json, as_csv, lambda s, _: budget_spend(s, by, flt))


def query(
    sql: Annotated[str, typer.Argument(help="DuckDB SQL over the view `attempts`.")],
    data: Annotated[Path, typer.Option("--data", help="The Parquet export directory.")] = Path("export"),
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Run read-only DuckDB SQL over a Parquet export (`routeledger export parquet`)."""
    from routeledger.analytics.adhoc import AdhocQueryError, run_query

    try:
        table = run_query(data, sql)
    except AdhocQueryError as exc:
        raise _fail(str(exc), 2) from None
    _emit(table, "Query", as_json, as_csv)


@analytics_app.command("anomalies")
def analytics_anomalies(
    config: ConfigOption = DEFAULT_CONFIG,
    route: FilterOption = None,
    task: FilterOption = None,
    tenant: FilterOption = None,
    feature: FilterOption = None,
    model: FilterOption = None,
    provider: FilterOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Fallback share above the threshold and spikes against each route's own baseline, with evidence."""
    from routeledger.analytics.anomalies import detect_anomalies

    with _guard():
        flt = _filters(route, task, tenant, feature, model, provider)
    _run(config, "Anomalies", as_json, as_csv, lambda s, cfg: detect_anomalies(s, cfg.analytics.anomalies, flt))


@alerts_app.command("check")
def alerts_check(
    config: ConfigOption = DEFAULT_CONFIG,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Evaluate the alert rules once: notify new firings and recoveries, store them in `alerts`."""
    from routeledger.analytics.alerts import AlertManager, events_table
    from routeledger.store.base import open_writer, running_service_url

    cfg = _config(config)
    if running_service_url(cfg):
        raise _fail("the collector owns the store and runs the alert scheduler; stop it to check from here", 1)
    with _guard():
        store = open_writer(cfg)
        try:
            store.migrate()
            manager = AlertManager(store, cfg.analytics)  # type: ignore[arg-type]
            try:
                table = events_table(manager.check())
            finally:
                manager.close()
        finally:
            store.close()
    _emit(table, "Alerts", as_json, as_csv)


@alerts_app.command("history")
def alerts_history(
    config: ConfigOption = DEFAULT_CONFIG,
    window: WindowOption = "7d",
    limit: Annotated[int, typer.Option(help="At most this many events.")] = 200,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Stored alert firings and resolutions, newest first."""
    from routeledger.analytics.alerts import alert_history

    with _guard():
        win = _window(window)
    _run(config, "Alert history", as_json, as_csv, lambda s, _: alert_history(s, win, limit))


@report_app.command("weekly")
def report_weekly(
    out_path: Annotated[Path, typer.Option("--out", help="report.html or report.md")] = Path("report.html"),
    config: ConfigOption = DEFAULT_CONFIG,
    route: FilterOption = None,
    tenant: FilterOption = None,
) -> None:
    """The weekly chain-pruning report: hop stats per route and what pruning would save."""
    from rich.progress import Progress

    from routeledger.analytics.report import build_weekly_report, render_html, render_markdown
    from routeledger.store import open_reader

    if out_path.suffix.lower() not in (".html", ".md"):
        raise _fail(f"--out must end in .html or .md, not {out_path.suffix or 'nothing'!r}", 2)
    cfg = _config(config)
    with _guard(), Progress(console=err, transient=True) as progress:
        task = progress.add_task("weekly report", total=6)

        def step(what: str) -> None:
            progress.update(task, advance=1, description=what)

        store = open_reader(cfg)
        try:
            report = build_weekly_report(store, filters=_filters(route, None, tenant, None, None, None), step=step)
        finally:
            store.close()
        step("rendering")
        text = render_html(report) if out_path.suffix.lower() == ".html" else render_markdown(report)
    out_path.write_text(text, encoding="utf-8")
    err.print(
        f"wrote {out_path}: {len(report.recommendations)} recommendations, "
        f"saving ${report.total_savings:,.4f} per week",
        highlight=False,
    )


@export_app.command("parquet")
def export_parquet_command(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the day partitions.")] = Path("export"),
    since: Annotated[str, typer.Option(help="How far back: 30d, 12h, 'all', or SINCE..UNTIL.")] = "30d",
    config: ConfigOption = DEFAULT_CONFIG,
    tenant: FilterOption = None,
) -> None:
    """Export the ledger as Parquet, Hive-partitioned by day (resumable: finished days are skipped)."""
    from rich.progress import Progress

    from routeledger.analytics.adhoc import export_parquet
    from routeledger.store import open_reader

    cfg = _config(config)
    with _guard():
        win = _window(since)
        store = open_reader(cfg)
        try:
            with Progress(console=err, transient=True) as progress:
                task = progress.add_task("exporting", total=None)

                def step(day: object, rows: int) -> None:
                    progress.update(task, advance=1, description=f"{day}: {rows:,} rows")

                result = export_parquet(store, out_dir, win, _filters(None, None, tenant, None, None, None), step=step)
        finally:
            store.close()
    err.print(
        f"exported {result.rows:,} rows: {len(result.written)} days written, {len(result.skipped)} already complete "
        f"→ {out_dir}",
        highlight=False,
    )
