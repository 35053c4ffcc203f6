-- One row per upstream attempt (the attempt contract: routeledger/attempt.py).
-- Day partitions make retention (TTL) and time-window scans cheap; the sort key serves the
-- analytics that filter by route and model over a time range. The deduplication window makes a
-- retried batch insert (same insert_deduplication_token) a no-op.
CREATE TABLE IF NOT EXISTS llm_attempts
(
    ts                DateTime64(6, 'UTC'),
    request_id        String,
    attempt           UInt8,
    trace_id          String,
    span_id           String,
    decision          LowCardinality(String),
    route             LowCardinality(String),
    task              LowCardinality(String),
    tenant            LowCardinality(String),
    feature           LowCardinality(String),
    traffic_class     LowCardinality(String),
    model             LowCardinality(String),
    provider          LowCardinality(String),
    provider_name     LowCardinality(String),
    request_model     LowCardinality(String),
    response_model    LowCardinality(String),
    server_address    LowCardinality(String),
    outcome           LowCardinality(String),
    failure_class     LowCardinality(String),
    error_type        LowCardinality(String),
    http_status       UInt16,
    finish_reason     LowCardinality(String),
    billable          Bool,
    reason            String,
    stream            Bool,
    input_tokens      UInt32,
    output_tokens     UInt32,
    cache_read_tokens UInt32,
    cost_usd          Decimal(18, 9),
    price_source      LowCardinality(String),
    duration_ms       Float64,
    ttft_ms           Nullable(Float64),
    service           LowCardinality(String),
    ingested_at       DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_request_id request_id TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toDate(ts)
ORDER BY (route, model, ts, request_id, attempt)
SETTINGS non_replicated_deduplication_window = 10000
