"""Showing a job's Arrow table: a rich table for people, JSON or CSV for programs."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa
from rich.console import Console
from rich.table import Table

#: Columns holding a share (0..1), shown as percentages.
SHARE_SUFFIX = "_share"


def to_records(table: pa.Table) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in row.items()} for row in table.to_pylist()]


def to_json(table: pa.Table) -> str:
    return orjson.dumps(to_records(table), option=orjson.OPT_INDENT_2).decode()


def to_csv(table: pa.Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(table.column_names)
    for row in to_records(table):
        writer.writerow(row.values())
    return out.getvalue()


def to_rich(table: pa.Table, title: str) -> Table:
    view = Table(title=title, title_justify="left", header_style="bold")
    numeric = {
        f.name
        for f in table.schema
        if pa.types.is_integer(f.type) or pa.types.is_floating(f.type) or pa.types.is_decimal(f.type)
    }
    for name in table.column_names:
        view.add_column(name, justify="right" if name in numeric else "left")
    for row in table.to_pylist():
        view.add_row(*(_cell(name, value) for name, value in row.items()))
    if table.num_rows == 0:
        view.caption = "no rows in this window"
    return view


def print_table(console: Console, table: pa.Table, title: str) -> None:
    console.print(to_rich(table, title))


def _cell(name: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "FLAG" if value and name == "flagged" else ("yes" if value else "")
    if name.endswith(SHARE_SUFFIX) and isinstance(value, float):
        return f"{value:.1%}"
    if isinstance(value, Decimal):
        return f"${value:,.6f}" if name.endswith("usd") else str(value)
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value) if value != "" else "-"


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
