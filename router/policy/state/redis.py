"""State shared by every router replica in one redis-server: budgets, rate limits, breakers.

Every check-and-change is one Lua script, so two replicas reserving against the same nearly spent
budget cannot both see room that exists once. Rate-limit windows use Redis's clock, so replicas with
skewed clocks still count one window.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

from routeledger.router.policy.state.base import Denied, Reservation, Scope, StateUnavailable

PREFIX = "routeledger:"
RESERVATIONS = PREFIX + "reservations"
BREAKERS = PREFIX + "breakers"
#: Period counters outlive their period by this long (a month plus margin), then Redis drops them.
COUNTER_TTL_S = 40 * 86400

RESERVE = """
local n = tonumber(ARGV[1])
local amount = tonumber(ARGV[n + 2])
for i = 1, n do
  local spent = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  local held = tonumber(redis.call('GET', KEYS[2 * i]) or '0')
  if spent + held >= tonumber(ARGV[i + 1]) then
    return {i, tostring(spent), tostring(held)}
  end
end
for i = 1, n do
  redis.call('INCRBY', KEYS[2 * i], amount)
  redis.call('EXPIRE', KEYS[2 * i], ARGV[n + 5])
  redis.call('EXPIRE', KEYS[2 * i - 1], ARGV[n + 5])
end
redis.call('HSET', KEYS[2 * n + 1], ARGV[n + 3], ARGV[n + 4])
return {0}
"""

SETTLE = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
local amount = tonumber(ARGV[2])
local actual = tonumber(ARGV[3])
for i = 2, #KEYS, 2 do
  redis.call('DECRBY', KEYS[i + 1], amount)
  redis.call('INCRBY', KEYS[i], actual)
end
return 1
"""

HIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tostring(tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return '0'
"""


def _spent(scope: str) -> str:
    return f"{PREFIX}spent:{scope}"


def _held(scope: str) -> str:
    return f"{PREFIX}held:{scope}"


#: Seconds a usage reading is reused for the budget band (soft); reservations are always exact.
USAGE_TTL_S = 0.25
USAGE_CACHE_SIZE = 10_000
#: Connections to redis-server per router process; a Lua call takes well under a millisecond.
MAX_CONNECTIONS = 64


class RedisState:
    def __init__(self, url: str, reservation_ttl_s: float) -> None:
        import redis.asyncio as aioredis

        # A bounded pool that waits for a free connection: under a burst the default pool refuses
        # ("Too many connections") and every refusal would fail a request closed.
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=MAX_CONNECTIONS, timeout=2, socket_timeout=2, socket_connect_timeout=2
        )
        self.client = aioredis.Redis(connection_pool=pool)
        self.ttl = reservation_ttl_s
        self._usage: dict[tuple[str, ...], tuple[float, dict[str, tuple[int, int]]]] = {}
        self._reserve = self.client.register_script(RESERVE)
        self._settle = self.client.register_script(SETTLE)
        self._hit = self.client.register_script(HIT)

    async def _call(self, coro: Any) -> Any:
        import redis

        try:
            return await coro
        except (redis.RedisError, OSError) as exc:
            raise StateUnavailable(f"redis: {exc}") from exc

    async def usage(self, scopes: Sequence[str]) -> dict[str, tuple[int, int]]:
        """Spent and held per scope, read at most every USAGE_TTL_S per set of scopes.

        The reading only picks a budget band (70% downgrade, 95% critical only), a soft decision; the
        hard limit is the reservation, checked atomically in Redis on every attempt. Sparing the read
        on most requests saves a round trip per request, the bulk of what the guardrails cost."""
        if not scopes:
            return {}
        key = tuple(scopes)
        now = time.monotonic()
        cached = self._usage.get(key)
        if cached is not None and now - cached[0] < USAGE_TTL_S:
            return cached[1]
        keys = [k for s in scopes for k in (_spent(s), _held(s))]
        values = await self._call(self.client.mget(keys))
        out = {}
        for i, scope in enumerate(scopes):
            out[scope] = (int(values[2 * i] or 0), int(values[2 * i + 1] or 0))
        if len(self._usage) > USAGE_CACHE_SIZE:
            self._usage.clear()
        self._usage[key] = (now, out)
        return out

    async def reserve(
        self, scopes: Sequence[Scope], amount: int, request_id: str, attempt: int
    ) -> Reservation | Denied:
        rid = uuid.uuid4().hex
        payload = json.dumps(
            {
                "scopes": [s.key for s in scopes],
                "amount": amount,
                "request_id": request_id,
                "attempt": attempt,
                "created": time.time(),
            }
        )
        keys = [k for s in scopes for k in (_spent(s.key), _held(s.key))] + [RESERVATIONS]
        args: list[str | int] = [len(scopes), *[s.limit for s in scopes], amount, rid, payload, COUNTER_TTL_S]
        result = await self._call(self._reserve(keys=keys, args=args))
        if int(result[0]):
            scope = scopes[int(result[0]) - 1]
            return Denied(scope.key, int(float(result[1])), int(float(result[2])), scope.limit)
        return Reservation(rid, tuple(s.key for s in scopes), amount)

    async def settle(self, reservation: Reservation, actual: int) -> None:
        keys = [RESERVATIONS] + [k for s in reservation.scopes for k in (_spent(s), _held(s))]
        await self._call(self._settle(keys=keys, args=[reservation.id, reservation.amount, actual]))

    async def hit(self, key: str, limit: int, window_s: float) -> float:
        wait_ms = await self._call(
            self._hit(keys=[f"{PREFIX}rate:{key}"], args=[int(window_s * 1000), limit, uuid.uuid4().hex])
        )
        return float(wait_ms) / 1000

    async def first_crossing(self, scope: str, threshold: float) -> bool:
        created = await self._call(
            self.client.set(f"{PREFIX}event:{scope}:{threshold}", "1", nx=True, ex=COUNTER_TTL_S)
        )
        return bool(created)

    async def save_breaker(self, key: str, state: dict[str, Any]) -> None:
        await self._call(self.client.hset(BREAKERS, key, json.dumps(state)))

    async def load_breakers(self) -> dict[str, dict[str, Any]]:
        raw = await self._call(self.client.hgetall(BREAKERS))
        return {k.decode(): json.loads(v) for k, v in raw.items()}

    async def open_reservations(self) -> list[tuple[Reservation, str, int, float]]:
        raw = await self._call(self.client.hgetall(RESERVATIONS))
        out = []
        for rid, payload in raw.items():
            data = json.loads(payload)
            reservation = Reservation(rid.decode(), tuple(data["scopes"]), int(data["amount"]))
            out.append((reservation, str(data["request_id"]), int(data["attempt"]), float(data["created"])))
        return out

    async def close(self) -> None:
        await self.client.aclose(close_connection_pool=True)
