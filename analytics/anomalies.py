"""Anomalies: a fallback share above the line, and spikes against a route's (or model's) own past.

Two detectors over the same per-window series (`anomaly_series.sql`):

- threshold: the current window's fallback share is above `fallback_share_threshold` (seed 001:
  3-5%) with at least `min_requests` requests;
- spike: fallback share, cost per request or p95 request latency is more than `mad_threshold`
  scaled MADs above the median of the previous `baseline_windows` windows (median/MAD is robust:
  one past outage does not raise the baseline the way a mean would). The scale has a floor so a
  perfectly flat history does not turn a one-cent wobble into an alert.

Each anomaly carries its evidence: the window, the value, the baseline, the MAD and the volume.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from routeledger.analytics.scope import Filters, Window, active_filters, base_params, choose, load_sql, parse_duration
from routeledger.analytics_config import AnomalyConfig
from routeledger.store import AttemptStore

#: MAD → standard deviation for normal data.
MAD_SCALE = 1.4826
#: Smallest spread a baseline is given, per metric: absolute for shares, relative for the others.
SHARE_FLOOR = 0.02
RELATIVE_FLOOR = 0.10
METRICS = ("fallback_share", "cost_per_request", "p95_ms")


@dataclass(frozen=True, slots=True)
class Anomaly:
    kind: str  # "threshold" or "spike"
    metric: str
    scope: str  # "route" or "model"
    name: str
    window_start: datetime
    window_end: datetime
    value: float
    baseline: float | None  # the median of past windows (the threshold, for kind=threshold)
    mad: float | None
    score: float | None  # how many scaled MADs above the baseline
    requests: int
    baseline_windows: int
    message: str


ANOMALY_SCHEMA = pa.schema(
    [
        ("kind", pa.string()),
        ("metric", pa.string()),
        ("scope", pa.string()),
        ("name", pa.string()),
        ("window_start", pa.timestamp("us", tz="UTC")),
        ("window_end", pa.timestamp("us", tz="UTC")),
        ("value", pa.float64()),
        ("baseline", pa.float64()),
        ("mad", pa.float64()),
        ("score", pa.float64()),
        ("requests", pa.int64()),
        ("baseline_windows", pa.int64()),
        ("message", pa.string()),
    ]
)


def find_anomalies(
    store: AttemptStore,
    config: AnomalyConfig | None = None,
    filters: Filters | None = None,
    now: datetime | None = None,
    scopes: tuple[str, ...] = ("route", "model"),
) -> list[Anomaly]:
    cfg = config or AnomalyConfig()
    width = parse_duration(cfg.window)
    until = now or datetime.now(UTC)
    found: list[Anomaly] = []
    for scope in scopes:
        choose(scope, ("route", "model"), "anomaly scope")
        since = until - width * (cfg.baseline_windows + 1)
        params = base_params(Window(since, until), filters)
        params.update(by=scope, bucket_us=int(width / timedelta(microseconds=1)))
        series: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
        for row in store.query(
            load_sql("anomaly_series", key=f"r_{scope}", active=active_filters(params)), params
        ).to_pylist():
            series[row["name"]][int(row["window_index"])] = row
        for name, windows in sorted(series.items()):
            found.extend(_judge(cfg, scope, name, windows, until - width, until))
    return found


def detect_anomalies(
    store: AttemptStore,
    config: AnomalyConfig | None = None,
    filters: Filters | None = None,
    now: datetime | None = None,
) -> pa.Table:
    """Anomalies in the current window per route and per primary model, with their evidence."""
    rows = [asdict(a) for a in find_anomalies(store, config, filters, now)]
    return pa.Table.from_pylist(rows, schema=ANOMALY_SCHEMA)


def _judge(
    cfg: AnomalyConfig, scope: str, name: str, windows: dict[int, dict[str, Any]], start: datetime, end: datetime
) -> list[Anomaly]:
    current = windows.get(0)
    if current is None or current["requests"] < cfg.min_requests:
        return []
    volume = int(current["requests"])
    found = []
    share = float(current["fallback_share"])
    if share > cfg.fallback_share_threshold:
        found.append(
            Anomaly(
                "threshold",
                "fallback_share",
                scope,
                name,
                start,
                end,
                share,
                cfg.fallback_share_threshold,
                None,
                None,
                volume,
                0,
                f"fallback share {share:.1%} for {scope} {name} is above {cfg.fallback_share_threshold:.0%} "
                f"({volume} requests, {start:%Y-%m-%d %H:%M}-{end:%H:%M} UTC)",
            )
        )
    past = [w for i, w in windows.items() if i > 0 and w["requests"] >= max(1, cfg.min_requests // 4)]
    if len(past) < 3:
        return found
    for metric in METRICS:
        history = [float(w[metric]) for w in past]
        median = statistics.median(history)
        mad = statistics.median(abs(x - median) for x in history)
        floor = SHARE_FLOOR if metric == "fallback_share" else RELATIVE_FLOOR * abs(median)
        scale = max(MAD_SCALE * mad, floor, 1e-12)
        value = float(current[metric])
        score = (value - median) / scale
        if score > cfg.mad_threshold:
            found.append(
                Anomaly(
                    "spike",
                    metric,
                    scope,
                    name,
                    start,
                    end,
                    value,
                    median,
                    mad,
                    round(score, 3),
                    volume,
                    len(past),
                    f"{metric} {value:.4g} for {scope} {name} is {score:.1f} MADs above its baseline "
                    f"{median:.4g} ({len(past)} windows; {volume} requests now)",
                )
            )
    return found
