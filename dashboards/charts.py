"""Charts for the pages: Arrow tables in, altair or plotly figures out. No data access here.

altair's chart classes are untyped, so the altair builders return `Any`.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import plotly.graph_objects as go
import pyarrow as pa
import pyarrow.compute as pc

#: Colour of every threshold line (fallback share, budget thresholds).
LINE_COLOUR = "#d62728"
OUTCOME_COLOURS = {"success": "#2ca02c", "failure": LINE_COLOUR, "skipped": "#999999", "incomplete": "#ff7f0e"}


def frame(table: pa.Table) -> pd.DataFrame:
    """Arrow → pandas with money as float (charts plot numbers, tables keep the exact Decimal)."""
    for i, f in enumerate(table.schema):
        if pa.types.is_decimal(f.type):
            table = table.set_column(i, f.name, pc.cast(table.column(i), pa.float64()))
    return table.to_pandas()


def stacked_spend(table: pa.Table, dimension: str) -> Any:
    """Spend per bucket stacked by the dimension's values."""
    return (
        alt.Chart(frame(table))
        .mark_bar()
        .encode(
            x=alt.X("bucket:T", title=None),
            y=alt.Y("sum(cost_usd):Q", title="spend (USD)", stack="zero"),
            color=alt.Color("name:N", title=dimension),
            tooltip=["bucket:T", "name:N", alt.Tooltip("cost_usd:Q", format="$,.4f"), "attempts:Q"],
        )
        .properties(height=320)
    )


def share_over_time(table: pa.Table, dimension: str, line: float) -> Any:
    """Fallback share per bucket, one line per value, with the threshold as a red rule."""
    lines = (
        alt.Chart(frame(table))
        .mark_line(point=True)
        .encode(
            x=alt.X("bucket:T", title=None),
            y=alt.Y("fallback_share:Q", title="fallback share", axis=alt.Axis(format="%")),
            color=alt.Color("name:N", title=dimension),
            tooltip=["bucket:T", "name:N", alt.Tooltip("fallback_share:Q", format=".1%"), "requests:Q"],
        )
    )
    rule = alt.Chart(pd.DataFrame({"y": [line]})).mark_rule(color=LINE_COLOUR, strokeDash=[6, 4]).encode(y="y:Q")
    return alt.layer(lines, rule).properties(height=300)


def latency_bars(table: pa.Table, dimension: str) -> Any:
    """p50 / p95 / p99 per value side by side."""
    df = frame(table.select(["name", "p50_ms", "p95_ms", "p99_ms"]))
    long = df.melt(id_vars="name", var_name="percentile", value_name="ms")
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("name:N", title=dimension),
            xOffset="percentile:N",
            y=alt.Y("ms:Q", title="latency (ms)"),
            color=alt.Color("percentile:N"),
            tooltip=["name:N", "percentile:N", alt.Tooltip("ms:Q", format=",.1f")],
        )
        .properties(height=300)
    )


def chain_sankey(flow: pa.Table) -> go.Figure:
    """first → retry → fallback → answered/failed, link width = requests, hover shows cost."""
    rows = flow.to_pylist()
    nodes: list[str] = []
    index: dict[str, int] = {}
    for row in rows:
        for name in (row["source"], row["target"]):
            if name not in index:
                index[name] = len(nodes)
                nodes.append(name)
    colours = ["#2ca02c" if n == "answered" else LINE_COLOUR if n == "failed" else "#1f77b4" for n in nodes]
    link: dict[str, Any] = {
        "source": [index[r["source"]] for r in rows],
        "target": [index[r["target"]] for r in rows],
        "value": [r["requests"] for r in rows],
        "customdata": [f"${float(r['cost_usd']):,.4f}" for r in rows],
        "hovertemplate": "%{source.label} → %{target.label}<br>%{value} requests, %{customdata}<extra></extra>",
    }
    figure = go.Figure(go.Sankey(node={"label": nodes, "color": colours, "pad": 18}, link=link))
    figure.update_layout(height=420, margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return figure


def attempt_timeline(table: pa.Table) -> Any:
    """One bar per attempt from its start to its end, coloured by outcome."""
    df = frame(table)
    df["end"] = df["ts"] + pd.to_timedelta(df["duration_ms"], unit="ms")
    df["step"] = df["attempt"].astype(str) + ". " + df["decision"] + ": " + df["model"]
    return (
        alt.Chart(df)
        .mark_bar(height=18)
        .encode(
            x=alt.X("ts:T", title=None),
            x2="end:T",
            y=alt.Y("step:N", sort=None, title=None, axis=alt.Axis(labelLimit=320)),
            color=alt.Color(
                "outcome:N",
                scale=alt.Scale(
                    domain=["success", "failure", "skipped", "incomplete"],
                    range=["#2ca02c", LINE_COLOUR, "#999999", "#ff7f0e"],
                ),
            ),
            tooltip=["attempt:Q", "decision:N", "model:N", "outcome:N", "failure_class:N", "duration_ms:Q"],
        )
        .properties(height=60 + 30 * len(df))
    )
