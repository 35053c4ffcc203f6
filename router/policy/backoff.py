"""How long to wait before retrying the same model: full-jitter exponential backoff, Retry-After honoured.

Full jitter (retry n waits U[0, min(cap, base·2ⁿ))) spreads a burst of clients that failed together
so they do not retry in lockstep; a provider's Retry-After is a floor, never shortened.
"""

from __future__ import annotations

import random


def backoff_delay(
    retry: int, base_s: float, cap_s: float, rng: random.Random, retry_after_s: float | None = None
) -> float:
    """Seconds to wait before retry number `retry` (0 for the first retry)."""
    ceiling = min(cap_s, base_s * float(2**retry))
    delay: float = rng.random() * ceiling
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return delay
