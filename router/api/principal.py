"""Who is calling, as every room sees it: the key's configured name, tenant and permissions.

The value lives in `api` because policy (budgets per key, allowed classes) reads it; only
`ingress.auth` makes one, from the Authorization header.
"""

from __future__ import annotations

from dataclasses import dataclass

from routeledger.guardrails import BudgetConfig, TrafficClass


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a configured key (name, tenant, what it may do), or the anonymous caller."""

    key: str  # the key's configured name ("" when authentication is off)
    tenant: str | None
    routes: frozenset[str]
    classes: frozenset[TrafficClass]
    rpm: int | None
    budget: BudgetConfig

    def may_call(self, route: str) -> bool:
        return not self.routes or route in self.routes


ANONYMOUS = Principal("", None, frozenset(), frozenset(TrafficClass), None, BudgetConfig())
