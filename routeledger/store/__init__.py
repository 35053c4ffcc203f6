"""The attempt store: one interface, three ways to reach ClickHouse.

    ChdbAttemptStore         chDB in this process (embedded, default; data under .routeledger/)
    ClickHouseAttemptStore   a ClickHouse server through clickhouse-connect (ROUTELEDGER_CLICKHOUSE_URL)
    ServiceAttemptStore      the read-only query endpoint of the running collector, which owns the
                             chDB directory (chDB lets one process own a data directory)

All run the same SQL: DDL from `migrations/`, analytics from the `.sql` files of the analytics
stage, with values bound as ClickHouse `{name:Type}` parameters, never formatted into the text.
"""

from routeledger.store.base import AttemptStore, WriterStore, open_reader, open_writer

__all__ = ["AttemptStore", "WriterStore", "open_reader", "open_writer"]
