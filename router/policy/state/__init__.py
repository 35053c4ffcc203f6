"""Router state that must outlive a request: spend and reservations, rate-limit windows, breaker
state. `LocalState` (one router, journaled to SQLite) or `RedisState` (shared by replicas)."""

from routeledger.router.policy.state.base import Denied, Reservation, Scope, StateStore, StateUnavailable, open_state

__all__ = ["Denied", "Reservation", "Scope", "StateStore", "StateUnavailable", "open_state"]
