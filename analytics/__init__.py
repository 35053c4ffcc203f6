"""routeledger analytics: SQL jobs over the attempt ledger, returning Arrow tables.

Each job is a `.sql` file beside `jobs.py` with bound `{name:Type}` parameters, a Python function
that runs it on any `AttemptStore` (chDB, a ClickHouse server, the service endpoint), and a CLI
command. The dashboard calls the same functions.
"""

from analytics.jobs import Filters, Window, cost, fallbacks

__all__ = ["Filters", "Window", "cost", "fallbacks"]
