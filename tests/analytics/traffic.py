"""Known synthetic traffic for the analytics tests: every number a test asserts is computed by hand
from the description below, not by running the jobs.

support (tenant acme, feature chat, task support_chat), 100 requests, one a minute from T0:
    88 answered by beta-sonnet at $4; 12 where beta-sonnet fails billably at $4 (provider_error)
    and alpha-4o answers at $10 (seed 001: 88 * 4 + 12 * 14 over 100 = 5.2 per request).
    Durations of the first attempts are 1..100 ms (request i: i+1 ms); fallbacks take 200 ms.
    TTFT is set on the 88 direct answers only: i+1 ms / 2.
summarize (tenant globex, feature digest, task summarization), 10 requests at T0 + 3 h:
    7 answered by alpha-mini at $0.5; 3 where alpha-mini fails (rate_limited, not billable, $0)
    and a retry answers at $0.5. Outputs: one empty answer (0 tokens, among the 7), one
    truncated (finish_reason length), one over-long (3000 tokens).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from routeledger.attempt import AttemptRow, rows_to_arrow
from routeledger.store.embedded import ChdbAttemptStore
from tests.routeledger.store.test_embedded import row

T0 = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday


def ns(t: datetime) -> int:
    return int(t.timestamp() * 1e9)


SUMMARIZE: dict[str, Any] = {
    "route": "summarize",
    "task": "summarization",
    "tenant": "globex",
    "feature": "digest",
    "model": "alpha-mini",
    "provider": "alpha",
}


def support_rows() -> list[AttemptRow]:
    rows = []
    for i in range(100):
        at = ns(T0 + timedelta(minutes=i))
        rid = f"s{i:03d}"
        if i < 88:
            rows.append(
                row(
                    len(rows),
                    start_ns=at,
                    request_id=rid,
                    attempt=1,
                    decision="first",
                    cost_usd=Decimal(4),
                    duration_ms=float(i + 1),
                    ttft_ms=(i + 1) / 2,
                )
            )
            continue
        rows.append(
            row(
                len(rows),
                start_ns=at,
                request_id=rid,
                attempt=1,
                decision="first",
                cost_usd=Decimal(4),
                outcome="failure",
                failure_class="provider_error",
                http_status=503,
                finish_reason="",
                output_tokens=0,
                duration_ms=float(i + 1),
            )
        )
        rows.append(
            row(
                len(rows),
                start_ns=at + 1000,
                request_id=rid,
                attempt=2,
                decision="fallback",
                model="alpha-4o",
                provider="alpha",
                cost_usd=Decimal(10),
                duration_ms=200.0,
            )
        )
    return rows


def summarize_rows(offset: int = 1000) -> list[AttemptRow]:
    rows = []
    for i in range(10):
        at = ns(T0 + timedelta(hours=3, minutes=i))
        rid = f"m{i:03d}"
        n = offset + len(rows)
        if i < 3:
            rows.append(
                row(
                    n,
                    start_ns=at,
                    request_id=rid,
                    attempt=1,
                    decision="first",
                    cost_usd=Decimal(0),
                    outcome="failure",
                    failure_class="rate_limited",
                    billable=False,
                    http_status=429,
                    output_tokens=0,
                    finish_reason="",
                    **SUMMARIZE,
                )
            )
            rows.append(
                row(
                    n + 1,
                    start_ns=at + 1000,
                    request_id=rid,
                    attempt=2,
                    decision="retry",
                    cost_usd=Decimal("0.5"),
                    **SUMMARIZE,
                )
            )
            continue
        extra: dict[str, Any] = {}
        if i == 3:
            extra = {"output_tokens": 0}
        elif i == 4:
            extra = {"finish_reason": "length"}
        elif i == 5:
            extra = {"output_tokens": 3000}
        fields = {"decision": "first", "cost_usd": Decimal("0.5"), **SUMMARIZE, **extra}
        rows.append(row(n, start_ns=at, request_id=rid, attempt=1, **fields))
    return rows


def write(store: ChdbAttemptStore, rows: list[AttemptRow], dedup: str = "traffic") -> None:
    store.insert_attempts(rows_to_arrow(rows), dedup)


def seed_traffic(store: ChdbAttemptStore) -> None:
    write(store, support_rows() + summarize_rows())
