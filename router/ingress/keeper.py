"""Background upkeep of the router's durable state, owned by the app's lifespan.

- breakers: restored at start, saved on every transition, and (with a shared backend) refreshed
  from the other replicas every second, so a model one replica quarantined is skipped by all;
- reservations: those a dead router left open are settled from the ledger or released
  (`router.reconcile`), at start and then every `guardrails.state.sweep_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from routeledger.config import CLICKHOUSE_URL_ENV, RouteledgerConfig
from routeledger.errors import RouteledgerError
from routeledger.guardrails import StateBackend
from routeledger.router.policy.engine import Engine
from routeledger.router.policy.reconcile import reconcile
from routeledger.router.policy.state import StateStore, StateUnavailable
from routeledger.store import AttemptStore, open_reader
from routeledger.store.base import running_service_url

log = logging.getLogger("routeledger.router.keeper")

#: Seconds between two refreshes of breaker state shared by replicas.
BREAKER_SYNC_S = 1.0


def ledger_opener(config: RouteledgerConfig) -> Callable[[], AttemptStore]:
    """How the router reads the ledger to reconcile: a ClickHouse server or the running collector.

    Never the embedded chDB directory itself: the collector owns it, and a router opening it would
    take it away."""

    def open_ledger() -> AttemptStore:
        if not (os.environ.get(CLICKHOUSE_URL_ENV) or running_service_url(config)):
            raise RouteledgerError("the ledger is not reachable: no ClickHouse server configured, no collector running")
        return open_reader(config)

    return open_ledger


class StateKeeper:
    def __init__(
        self,
        config: RouteledgerConfig,
        engine: Engine,
        state: StateStore,
        ledger: Callable[[], AttemptStore] | None,
    ) -> None:
        self.config = config
        self.engine = engine
        self.state = state
        self.ledger = ledger
        self.started_at = time.time()
        self.tasks: list[asyncio.Task[Any]] = []
        self.pending: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        board = self.engine.guards.breakers
        try:
            board.restore(await self.state.load_breakers())
        except StateUnavailable as exc:
            log.warning("breaker state not restored: %s", exc)
        board.on_change = self._save_breaker
        await self.sweep()
        self.tasks.append(asyncio.create_task(self._every(self.config.guardrails.state.sweep_s, self.sweep)))
        if self.config.guardrails.state.backend is StateBackend.REDIS:
            self.tasks.append(asyncio.create_task(self._every(BREAKER_SYNC_S, self.sync_breakers)))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.pending:
            await asyncio.gather(*self.pending, return_exceptions=True)

    def _save_breaker(self, name: str, state: dict[str, Any]) -> None:
        """Called on a transition, normally on the loop; from another thread (an admin tool) too."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self.loop.call_soon_threadsafe(self._schedule, name, state)
        else:
            self._schedule(name, state)

    def _schedule(self, name: str, state: dict[str, Any]) -> None:
        task = self.loop.create_task(self._save(name, state))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _save(self, name: str, state: dict[str, Any]) -> None:
        try:
            await self.state.save_breaker(name, state)
        except StateUnavailable as exc:
            log.warning("breaker %s not saved: %s", name, exc)

    async def sync_breakers(self) -> None:
        try:
            self.engine.guards.breakers.restore(await self.state.load_breakers())
        except StateUnavailable as exc:
            log.warning("shared breaker state not refreshed: %s", exc)

    async def sweep(self) -> None:
        """Orphans: at start every open reservation of the local state; later only old ones."""
        ttl = self.config.guardrails.state.reservation_ttl_s
        local = self.config.guardrails.state.backend is StateBackend.LOCAL
        older_than = self.started_at if local else time.time() - ttl
        result = await reconcile(self.state, self.ledger, ttl, older_than)
        if result.settled or result.released:
            log.info(
                "reservations reconciled: %d settled from the ledger, %d released", result.settled, result.released
            )

    async def _every(self, seconds: float, job: Callable[[], Any]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except Exception:
                log.exception("state upkeep failed")
