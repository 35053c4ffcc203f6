"""What the router decides: the attempt loop over a route's chain, which failure leads where,
circuit breakers, retry budgets, bulkheads, spend guardrails and the state they keep.

Imports `upstream` (to make attempts) and `api`; never `ingress` or `telemetry`.
"""
