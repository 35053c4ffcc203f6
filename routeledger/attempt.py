"""The attempt contract: one upstream call = one span = one `llm_attempts` row.

The router writes attempts as spans (attribute names in `routeledger.semconv`), the collector turns
them back into `AttemptRow`s, the store writes them with `ATTEMPT_SCHEMA`, analytics read the table.
Column order here is the table's column order (`store/migrations/0001_llm_attempts.sql`); a test
checks the two agree.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from enum import StrEnum

import pyarrow as pa


class Decision(StrEnum):
    """Why this attempt was made."""

    FIRST = "first"
    RETRY = "retry"  # the same model again (network, 429, 5xx)
    FALLBACK = "fallback"  # another model of the chain


class Outcome(StrEnum):
    SUCCESS = "success"  # this attempt's answer went to the client
    FAILURE = "failure"
    SKIPPED = "skipped"  # never sent (e.g. quarantined model, ceiling); not an upstream call
    INCOMPLETE = "incomplete"  # started, never finished (router killed); cost unknown


@dataclass(frozen=True, slots=True)
class AttemptRow:
    """One row of `llm_attempts`. Times are integer nanoseconds since the epoch (UTC)."""

    start_ns: int
    request_id: str
    attempt: int
    trace_id: str
    span_id: str
    decision: str
    route: str
    task: str
    tenant: str
    feature: str
    traffic_class: str
    model: str
    provider: str
    provider_name: str
    request_model: str
    response_model: str
    server_address: str
    outcome: str
    failure_class: str
    error_type: str
    http_status: int
    finish_reason: str
    billable: bool
    reason: str
    stream: bool
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cost_usd: Decimal
    price_source: str
    duration_ms: float
    ttft_ms: float | None
    service: str
    #: The API key's configured name (never the key); "" without authentication.
    api_key: str = ""


ATTEMPT_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(AttemptRow))

#: Arrow types matching the ClickHouse columns, so inserts need no per-row conversion in the engine.
ATTEMPT_SCHEMA = pa.schema(
    [
        ("ts", pa.timestamp("us", tz="UTC")),
        ("request_id", pa.string()),
        ("attempt", pa.uint8()),
        ("trace_id", pa.string()),
        ("span_id", pa.string()),
        ("decision", pa.string()),
        ("route", pa.string()),
        ("task", pa.string()),
        ("tenant", pa.string()),
        ("feature", pa.string()),
        ("traffic_class", pa.string()),
        ("model", pa.string()),
        ("provider", pa.string()),
        ("provider_name", pa.string()),
        ("request_model", pa.string()),
        ("response_model", pa.string()),
        ("server_address", pa.string()),
        ("outcome", pa.string()),
        ("failure_class", pa.string()),
        ("error_type", pa.string()),
        ("http_status", pa.uint16()),
        ("finish_reason", pa.string()),
        ("billable", pa.bool_()),
        ("reason", pa.string()),
        ("stream", pa.bool_()),
        ("input_tokens", pa.uint32()),
        ("output_tokens", pa.uint32()),
        ("cache_read_tokens", pa.uint32()),
        ("cost_usd", pa.decimal128(18, 9)),
        ("price_source", pa.string()),
        ("duration_ms", pa.float64()),
        ("ttft_ms", pa.float64()),
        ("service", pa.string()),
        ("api_key", pa.string()),
    ]
)


_row_values = operator.attrgetter(*ATTEMPT_COLUMNS)


def rows_to_arrow(rows: Sequence[AttemptRow]) -> pa.Table:
    """Columnar batch for one insert; `start_ns` becomes the `ts` column (microseconds)."""
    columns = list(zip(*map(_row_values, rows), strict=True)) if rows else [()] * len(ATTEMPT_COLUMNS)
    arrays = []
    for name, values, field in zip(ATTEMPT_COLUMNS, columns, ATTEMPT_SCHEMA, strict=True):
        if name == "start_ns":
            values = tuple(v // 1000 for v in values)
        arrays.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(arrays, schema=ATTEMPT_SCHEMA)
