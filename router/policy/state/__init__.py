"""Router state that must outlive a request: spend and reservations, rate-limit windows, breaker
state. `LocalState` (one router, journaled to SQLite) or `RedisState` (shared by replicas), both
behind the `StateStore` interface of `state.base`; `open_state` picks one from the config."""

from routeledger.guardrails import StateBackend, StateConfig
from routeledger.router.policy.state.base import Denied, Reservation, Scope, StateStore, StateUnavailable


def open_state(config: StateConfig) -> StateStore:
    if config.backend is StateBackend.REDIS:
        from routeledger.router.policy.state.redis import RedisState

        if not config.redis_url:
            raise StateUnavailable("guardrails.state.redis_url is required for the redis backend")
        return RedisState(config.redis_url, config.reservation_ttl_s)
    from routeledger.router.policy.state.local import LocalState

    return LocalState(config.path, config.reservation_ttl_s)


__all__ = ["Denied", "Reservation", "Scope", "StateStore", "StateUnavailable", "open_state"]
