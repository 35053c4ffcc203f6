"""Query parameters in ClickHouse's text form, the same for chDB and the server.

clickhouse-connect already knows how ClickHouse wants `{name:Type}` values written (arrays,
datetimes, escaping); chDB takes them as strings, so both backends use its formatter.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.binding import format_bind_value


def bind_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Every value as the text chDB passes to ClickHouse's parameter parser."""
    return {name: str(format_bind_value(value, top_level=True)) for name, value in normalize_params(params).items()}


def normalize_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Datetimes as text with microseconds: the library's formatter drops them, DateTime64(6) needs them."""
    return {
        name: value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(value, datetime) else value
        for name, value in params.items()
    }
