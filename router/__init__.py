"""The routeledger router: an OpenAI-compatible gateway that routes each request along a chain of
models, tells failures apart, and records every upstream attempt as an OpenTelemetry span.

    config → app (HTTP) → chat (parse) → engine (attempt loop) → providers (wire) → telemetry (spans)
"""
