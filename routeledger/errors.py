"""Kernel errors, shared by every stage.

    RouteledgerError
    ├── ConfigError        the YAML file is unreadable or invalid (CLI exit code 2)
    ├── StoreError         the attempt store refused or could not run a statement
    │   └── StoreUnavailable   the store cannot be reached at all (retry later)
    └── QueryError         a read-only query was rejected (bad SQL, write attempt, bad parameter)

Each stage keeps its own hot-path outcomes as values, not exceptions; these are for the edges.
"""

from __future__ import annotations


class RouteledgerError(Exception):
    """Base of every error routeledger raises on purpose."""


class ConfigError(RouteledgerError):
    """A configuration file is invalid; the message names the file, the dotted field and the fault."""

    def __init__(self, path: str, field: str, fault: str) -> None:
        self.path = path
        self.field = field
        self.fault = fault
        where = f"{path}: {field}: " if field else f"{path}: "
        super().__init__(f"{where}{fault}")


class StoreError(RouteledgerError):
    """The store could not run a statement."""


class StoreUnavailable(StoreError):
    """The store cannot be reached; callers keep data and try again later."""


class QueryError(RouteledgerError):
    """A read-only query was rejected; the message is safe to show to the caller."""
