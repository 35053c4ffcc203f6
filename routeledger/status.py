"""`routeledger status`: the collector's own health, read from its Prometheus `/metrics` endpoint.

The figures an operator needs first when spend looks wrong: is the store up, how many rows wait in
the spool (and how close it is to its disk budget), what was rejected, what failed.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from routeledger.config import RouteledgerConfig
from routeledger.errors import RouteledgerError
from routeledger.store.base import running_service_url

PREFIX = "routeledger_collector_"

#: (metric suffix, label) in the order `routeledger status` prints them.
SHOWN: tuple[tuple[str, str], ...] = (
    ("store_up", "store up (1 = yes)"),
    ("spool_depth_rows", "rows in the spool (not yet stored)"),
    ("spool_bytes", "spool bytes (undrained)"),
    ("spool_budget_bytes", "spool budget bytes"),
    ("drained_rows_total", "rows drained to the store"),
    ("attempt_spans_total", "attempt spans received"),
    ("spool_duplicate_rows_total", "re-sent spans dropped as duplicates"),
    ("rejected_spans_total", "spans rejected (partial_success)"),
    ("bad_requests_total", "requests rejected (400/413)"),
    ("unauthorized_total", "requests without a valid token (401)"),
    ("spool_full_total", "requests refused, spool full (503)"),
    ("store_errors_total", "store insert errors (retried)"),
    ("spool_replayed_batches_total", "batches replayed after a restart"),
    ("spool_quarantined_files_total", "damaged spool files set aside"),
    ("tables_without_dedup_window", "tables without a deduplication window"),
)


@dataclass(frozen=True, slots=True)
class CollectorStatus:
    url: str
    metrics: dict[str, float]

    def rows(self) -> list[tuple[str, float]]:
        return [(label, self.metrics[PREFIX + name]) for name, label in SHOWN if PREFIX + name in self.metrics]


def parse_prometheus(text: str) -> dict[str, float]:
    """Unlabelled samples of the Prometheus text format (all the collector exposes)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.partition(" ")
        try:
            out[name] = float(value.split()[0])
        except (ValueError, IndexError):
            continue
    return out


def collector_url(config: RouteledgerConfig) -> str:
    """The running embedded collector (service.json), else the configured address."""
    return running_service_url(config) or f"http://{config.collector.host}:{config.collector.port}"


def collector_status(url: str, timeout_s: float = 5.0) -> CollectorStatus:
    try:
        response = httpx.get(url.rstrip("/") + "/metrics", timeout=timeout_s)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise RouteledgerError(f"the collector at {url} did not answer /metrics: {exc}") from None
    return CollectorStatus(url, parse_prometheus(response.text))
