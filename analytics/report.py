"""The weekly chain-pruning report (seed 001, "what to do next in production": once a week, clean
up the chain by hand). Per route: how often each hop runs, how often it rescues the request, what it
costs and its latency; then recommendations, each with the money it would save per week:

    remove a hop         a fallback hop that rescues under RARE_RESCUE of the times it runs
    take out a slow hop  a middle hop much slower than the first that rarely rescues
    shorten a timeout    a hop whose timeouts/stalls cost money and time
    replace a provider   a primary provider whose fallback share grew week over week
    cut backup context   a fallback hop sent about as much context as the first attempt

Rendered as Markdown or as one HTML file with Vega-Lite charts (specs inline, drawn by vega-embed).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa

from routeledger.analytics.jobs import cost_per_answer, fallback_share, spend_over_time
from routeledger.analytics.scope import Filters, Window, active_filters, base_params, load_sql
from routeledger.store import AttemptStore

#: A fallback hop that rescues fewer than this share of its runs is a candidate for removal.
RARE_RESCUE = 0.2
#: Below this many runs in the week a hop's rates are noise.
MIN_RUNS = 10
#: A middle hop whose p95 is this many times the first hop's is "slow".
SLOW_FACTOR = 2.0
#: This many timeouts or stalls on a hop in a week make a timeout worth shortening.
MIN_TIMEOUTS = 5
#: A backup sent at least this share of the first attempt's context is sent too much.
CONTEXT_SHARE = 0.8
#: Fallback share above this, and growing by GROWTH over last week, flags the primary provider.
PROVIDER_SHARE = 0.05
GROWTH = 1.5

Step = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Recommendation:
    route: str
    action: str
    detail: str
    saves_usd: Decimal  # per week


@dataclass(frozen=True, slots=True)
class WeeklyReport:
    window: Window
    hops: list[dict[str, Any]]
    routes: list[dict[str, Any]]
    providers: list[dict[str, Any]]
    spend: list[dict[str, Any]]
    recommendations: list[Recommendation]

    @property
    def total_savings(self) -> Decimal:
        return sum((r.saves_usd for r in self.recommendations), Decimal(0))


def build_weekly_report(
    store: AttemptStore,
    now: datetime | None = None,
    filters: Filters | None = None,
    step: Step | None = None,
) -> WeeklyReport:
    """The last 7 days ending `now`, compared with the 7 days before for trends."""
    tick = step or (lambda _: None)
    end = now or datetime.now(UTC)
    week = Window(end - timedelta(days=7), end)
    before = Window(end - timedelta(days=14), week.since)
    tick("hop statistics")
    params = base_params(week, filters)
    hops = store.query(load_sql("hop_stats", active=active_filters(params)), params).drop_columns(["q"]).to_pylist()
    tick("cost per answer by route")
    routes = cost_per_answer(store, ("route",), week, filters).to_pylist()
    shares = {r["name"]: r for r in fallback_share(store, "route", week, filters).to_pylist()}
    for r in routes:
        r["fallback_share"] = shares.get(r["route"], {}).get("fallback_share", 0.0)
    tick("provider trend")
    now_p = {r["name"]: r for r in fallback_share(store, "provider", week, filters).to_pylist()}
    was_p = {r["name"]: r for r in fallback_share(store, "provider", before, filters).to_pylist()}
    overhead = {r["provider"]: r for r in cost_per_answer(store, ("provider",), week, filters).to_pylist()}
    providers = [
        {
            "provider": name,
            "requests": row["requests"],
            "fallback_share": row["fallback_share"],
            "last_week_share": was_p.get(name, {}).get("fallback_share"),
            "chain_overhead_usd": overhead.get(name, {}).get("chain_overhead_usd", Decimal(0)),
        }
        for name, row in sorted(now_p.items())
    ]
    tick("spend per day")
    spend = spend_over_time(store, "day", ("route",), week, filters).to_pylist()
    tick("recommendations")
    return WeeklyReport(week, hops, routes, providers, spend, recommend(hops, providers))


def recommend(hops: list[dict[str, Any]], providers: list[dict[str, Any]]) -> list[Recommendation]:
    found: list[Recommendation] = []
    by_route: dict[str, list[dict[str, Any]]] = {}
    for h in hops:
        by_route.setdefault(h["route"], []).append(h)
    for route, chain in sorted(by_route.items()):
        first = [h for h in chain if h["hop"] == 1]
        first_p95 = max((h["p95_ms"] for h in first), default=0.0)
        first_context = max((h["mean_input_tokens"] for h in first), default=0.0)
        last_hop = max(h["hop"] for h in chain)
        answering = [h["p95_success_ms"] for h in chain if not math.isnan(h["p95_success_ms"])]
        route_answer_p95 = min(answering, default=first_p95)
        for h in chain:
            label = f"hop {h['hop']} ({h['model']})"
            rescue = h["rescues"] / h["runs"] if h["runs"] else 0.0
            later = h["hop"] > 1 and h["runs"] >= MIN_RUNS
            if later and rescue < RARE_RESCUE:
                found.append(
                    Recommendation(
                        route,
                        "remove hop",
                        f"{label} ran {h['runs']} times and rescued {h['rescues']} ({rescue:.0%}); "
                        f"removing it loses those answers",
                        h["cost_usd"],
                    )
                )
            elif later and h["hop"] < last_hop and h["p95_ms"] > SLOW_FACTOR * first_p95 and rescue < 0.5:
                found.append(
                    Recommendation(
                        route,
                        "take slow hop out of the middle",
                        f"{label} p95 {h['p95_ms']:.0f} ms vs first hop {first_p95:.0f} ms, rescues {rescue:.0%}",
                        h["wasted_usd"],
                    )
                )
            if h["timeouts"] >= MIN_TIMEOUTS:
                own = h["p95_success_ms"]
                answers_p95 = route_answer_p95 if math.isnan(own) else own
                whose = "the route's answers'" if math.isnan(own) else "its answers'"
                found.append(
                    Recommendation(
                        route,
                        "shorten timeout",
                        f"{label} timed out {h['timeouts']} times, waiting {h['timeout_ms'] / 1000:.1f} s in all; "
                        f"{whose} p95 is {answers_p95:.0f} ms: try a timeout near {answers_p95 * 1.5:.0f} ms",
                        h["timeout_usd"],
                    )
                )
            if later and first_context and h["mean_input_tokens"] >= CONTEXT_SHARE * first_context:
                tokens = h["input_tokens"] + h["output_tokens"]
                input_cost = h["cost_usd"] * Decimal(h["input_tokens"]) / Decimal(tokens) if tokens else Decimal(0)
                found.append(
                    Recommendation(
                        route,
                        "cut context sent to the backup",
                        f"{label} gets {h['mean_input_tokens']:.0f} input tokens on average, the first attempt "
                        f"{first_context:.0f}; halving it saves about half its input cost",
                        (input_cost / 2).quantize(Decimal("0.000000001")),
                    )
                )
    for p in providers:
        was = p["last_week_share"]
        grew = was is None or p["fallback_share"] > GROWTH * was
        if p["fallback_share"] > PROVIDER_SHARE and grew and p["requests"] >= MIN_RUNS:
            before = "no traffic" if was is None else f"{was:.1%}"
            found.append(
                Recommendation(
                    "*",
                    "replace provider",
                    f"{p['provider']} as primary fell back on {p['fallback_share']:.1%} of requests "
                    f"(last week {before})",
                    p["chain_overhead_usd"],
                )
            )
    return sorted(found, key=lambda r: (-r.saves_usd, r.route, r.action))


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"${value:,.4f}"


def render_markdown(report: WeeklyReport) -> str:
    w = report.window
    lines = [
        f"# Weekly chain-pruning report, {w.since:%Y-%m-%d} to {w.until:%Y-%m-%d}",
        "",
        f"Recommendations would save **{_money(report.total_savings)} per week**.",
        "",
        "## Recommendations",
        "",
        "| route | action | saves / week | why |",
        "|---|---|---:|---|",
    ]
    lines += [f"| {r.route} | {r.action} | {_money(r.saves_usd)} | {r.detail} |" for r in report.recommendations]
    if not report.recommendations:
        lines.append("| - | nothing to prune this week | - | - |")
    lines += [
        "",
        "## Routes",
        "",
        "| route | requests | cost | cost / answer | fallback share |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['route']} | {r['requests']:,} | {_money(r['cost_usd'])} | {_money(r['cost_per_answer_usd'])} "
        f"| {r['fallback_share']:.1%} |"
        for r in report.routes
    ]
    lines += [
        "",
        "## Hops",
        "",
        "| route | hop | model | runs | rescues | rescue rate | cost | wasted | p50 ms | p95 ms | input tokens |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for h in report.hops:
        rate = h["rescues"] / h["runs"] if h["hop"] > 1 and h["runs"] else None
        lines.append(
            f"| {h['route']} | {h['hop']} | {h['model']} | {h['runs']:,} | {h['rescues']:,} | "
            f"{'-' if rate is None else f'{rate:.0%}'} | {_money(h['cost_usd'])} | {_money(h['wasted_usd'])} | "
            f"{h['p50_ms']:.0f} | {h['p95_ms']:.0f} | {h['mean_input_tokens']:.0f} |"
        )
    lines += [
        "",
        "## Primary providers",
        "",
        "| provider | requests | fallback share | last week |",
        "|---|---:|---:|---:|",
    ]
    for p in report.providers:
        was = "-" if p["last_week_share"] is None else f"{p['last_week_share']:.1%}"
        lines.append(f"| {p['provider']} | {p['requests']:,} | {p['fallback_share']:.1%} | {was} |")
    return "\n".join(lines) + "\n"


def charts(report: WeeklyReport) -> dict[str, dict[str, Any]]:
    """Vega-Lite specs (built with altair) for the HTML report."""
    import altair as alt

    hop_rows = [
        {
            "route": h["route"],
            "hop": f"{h['hop']}: {h['model']}",
            "cost_usd": float(h["cost_usd"]),
            "rescue_rate": (h["rescues"] / h["runs"]) if h["runs"] and h["hop"] > 1 else None,
        }
        for h in report.hops
    ]
    spend_rows = [
        {"day": s["bucket"].isoformat(), "route": s["route"], "cost_usd": float(s["cost_usd"])} for s in report.spend
    ]
    cost = (
        alt.Chart({"values": hop_rows}, title="Weekly cost by route and hop")
        .mark_bar()
        .encode(x=alt.X("cost_usd:Q", title="USD"), y=alt.Y("route:N"), color=alt.Color("hop:N"))
    )
    rescue = (
        alt.Chart({"values": [r for r in hop_rows if r["rescue_rate"] is not None]}, title="Rescue rate")
        .mark_bar()
        .encode(x=alt.X("rescue_rate:Q", axis=alt.Axis(format="%")), y=alt.Y("hop:N"), row=alt.Row("route:N"))
    )
    spend = (
        alt.Chart({"values": spend_rows}, title="Spend per day")
        .mark_line(point=True)
        .encode(x=alt.X("day:T"), y=alt.Y("cost_usd:Q", title="USD"), color=alt.Color("route:N"))
    )
    return {name: chart.to_dict() for name, chart in {"cost": cost, "rescue": rescue, "spend": spend}.items()}


def render_html(report: WeeklyReport) -> str:
    """One HTML file: the Markdown tables as HTML, plus the charts' Vega-Lite specs inline."""
    specs = charts(report)
    body = _markdown_tables_to_html(render_markdown(report))
    divs = "\n".join(f'<div id="chart-{name}" class="chart"></div>' for name in specs)
    embeds = "\n".join(
        f'vegaEmbed("#chart-{name}", {orjson.dumps(spec).decode()}, {{"actions": false}});'
        for name, spec in specs.items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>routeledger weekly report</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}}
table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;font-size:14px}}th{{background:#f4f4f4}}.chart{{margin:1em 0}}</style>
<script src="https://cdn.jsdelivr.net/npm/vega@5"></script>
<script src="https://cdn.jsdelivr.net/npm/vega-lite@5"></script>
<script src="https://cdn.jsdelivr.net/npm/vega-embed@6"></script>
</head><body>
{body}
<h2>Charts</h2>
{divs}
<script type="application/json" id="vega-lite-specs">{html.escape(orjson.dumps(specs).decode(), quote=False)}</script>
<script>{embeds}</script>
</body></html>
"""


def _markdown_tables_to_html(markdown: str) -> str:
    """The report's own Markdown (headings, paragraphs, pipe tables) as HTML, every cell escaped."""
    out: list[str] = []
    table: list[list[str]] = []

    def flush() -> None:
        if table:
            head, *rows = table
            out.append("<table><tr>" + "".join(f"<th>{c}</th>" for c in head) + "</tr>")
            out.extend("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
            out.append("</table>")
            table.clear()

    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [html.escape(c.strip()) for c in line.strip("|").split("|")]
            if not all(set(c) <= set("-:") for c in cells):
                table.append(cells)
            continue
        flush()
        if line.startswith("## "):
            out.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("# "):
            out.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.strip():
            text = html.escape(line)
            out.append("<p>" + text.replace("**", "<b>", 1).replace("**", "</b>", 1) + "</p>")
    flush()
    return "\n".join(out)


def hops_table(report: WeeklyReport) -> pa.Table:
    return pa.Table.from_pylist(report.hops)
