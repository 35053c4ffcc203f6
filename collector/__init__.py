"""The routeledger collector: receives OTLP traces, keeps attempt spans, writes them to the store.

otlp (decode) → rows (attempt spans → rows) → writer (batches, idempotent inserts) → store
"""
