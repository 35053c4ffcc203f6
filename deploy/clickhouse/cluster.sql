-- routeledger on a ClickHouse cluster: the DDL variant of routeledger/store/migrations for teams that
-- outgrow one server (docs/topology.md). Run once per cluster with clickhouse-client --multiquery;
-- the `{cluster}`, `{shard}` and `{replica}` macros come from each server's config (macros.xml).
--
-- Layout: each shard holds `*_local` ReplicatedMergeTree tables (replicas of a shard copy each other
-- through Keeper); `llm_attempts` / `otel_traces` are Distributed tables over them. Collectors insert
-- into the Distributed tables with insert_distributed_sync=1 (the insert returns only when the shard
-- has it) and an insert_deduplication_token per batch: Replicated*MergeTree deduplicates retried
-- blocks through Keeper (replicated_deduplication_window), per shard, so the sharding key must send
-- the same rows to the same shard every time: it is a hash of the span key, never rand().
-- Analytics read the Distributed tables with the same SQL as on one server.

CREATE DATABASE IF NOT EXISTS routeledger ON CLUSTER '{cluster}';

CREATE TABLE IF NOT EXISTS routeledger.schema_version ON CLUSTER '{cluster}'
(
    version    UInt32,
    name       String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/routeledger/schema_version', '{replica}')
ORDER BY version;

CREATE TABLE IF NOT EXISTS routeledger.llm_attempts_local ON CLUSTER '{cluster}'
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
    api_key           LowCardinality(String) DEFAULT '',
    ingested_at       DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_request_id request_id TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/routeledger/llm_attempts', '{replica}')
PARTITION BY toDate(ts)
ORDER BY (route, model, ts, request_id, attempt)
-- TTL toDateTime(ts) + toIntervalDay(400)   -- retention: the collector's store.ttl_days
SETTINGS replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 604800;

CREATE TABLE IF NOT EXISTS routeledger.llm_attempts ON CLUSTER '{cluster}' AS routeledger.llm_attempts_local
ENGINE = Distributed('{cluster}', routeledger, llm_attempts_local, cityHash64(trace_id, span_id));

CREATE TABLE IF NOT EXISTS routeledger.otel_traces_local ON CLUSTER '{cluster}'
(
    Timestamp          DateTime64(9) CODEC(Delta, ZSTD(1)),
    TraceId            String CODEC(ZSTD(1)),
    SpanId             String CODEC(ZSTD(1)),
    ParentSpanId       String CODEC(ZSTD(1)),
    TraceState         String CODEC(ZSTD(1)),
    SpanName           LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind           LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName        LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName          String CODEC(ZSTD(1)),
    ScopeVersion       String CODEC(ZSTD(1)),
    SpanAttributes     Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration           UInt64 CODEC(ZSTD(1)),
    StatusCode         LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage      String CODEC(ZSTD(1)),
    Events Nested (Timestamp DateTime64(9), Name LowCardinality(String), Attributes Map(LowCardinality(String), String)) CODEC(ZSTD(1)),
    Links Nested (TraceId String, SpanId String, TraceState String, Attributes Map(LowCardinality(String), String)) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/routeledger/otel_traces', '{replica}')
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp))
SETTINGS ttl_only_drop_parts = 1, replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS routeledger.otel_traces ON CLUSTER '{cluster}' AS routeledger.otel_traces_local
ENGINE = Distributed('{cluster}', routeledger, otel_traces_local, cityHash64(TraceId, SpanId));

-- The view lives on every shard, local to local: a span and its attempt row land on the same shard,
-- and a deduplicated source block is deduplicated in the view's target as well
-- (deduplicate_blocks_in_dependent_materialized_views=1 on the insert).
-- Its SELECT is the one of routeledger/store/migrations/0003_otel_traces_to_llm_attempts.sql with
-- `FROM routeledger.otel_traces_local`.
-- CREATE MATERIALIZED VIEW IF NOT EXISTS routeledger.otel_traces_llm_attempts ON CLUSTER '{cluster}'
--     TO routeledger.llm_attempts_local AS SELECT ... FROM routeledger.otel_traces_local WHERE ...;

-- Rollups and the chain copy (migrations 0011 and 0012): local tables next to llm_attempts_local,
-- filled by views local to local (an attempt and its sums land on the same shard), read through
-- Distributed tables: the jobs only add rollup rows up and group the chain copy by request, which a
-- Distributed GROUP BY finishes across shards. Backfill an existing ledger once, per shard, with the
-- INSERT ... SELECT of the migration reading `llm_attempts_local`. Without these tables the
-- analytics read `llm_attempts` only (analytics/rollup.py checks system.tables).
CREATE TABLE IF NOT EXISTS routeledger.llm_rollup_hour_local ON CLUSTER '{cluster}'
(
    bucket        DateTime('UTC'),
    route         LowCardinality(String),
    task          LowCardinality(String),
    model         LowCardinality(String),
    provider      LowCardinality(String),
    decision      LowCardinality(String),
    outcome       LowCardinality(String),
    first         UInt8,
    attempts      UInt64,
    billable      UInt64,
    input_tokens  UInt64,
    output_tokens UInt64,
    cost_usd      Decimal(38, 9)
)
ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/routeledger/llm_rollup_hour', '{replica}')
PARTITION BY toYYYYMM(bucket)
ORDER BY (bucket, route, task, model, provider, decision, outcome, first)
SETTINGS replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 604800;

CREATE TABLE IF NOT EXISTS routeledger.llm_rollup_hour ON CLUSTER '{cluster}' AS routeledger.llm_rollup_hour_local
ENGINE = Distributed('{cluster}', routeledger, llm_rollup_hour_local);

CREATE TABLE IF NOT EXISTS routeledger.llm_rollup_day_local ON CLUSTER '{cluster}'
(
    bucket        DateTime('UTC'),
    route         LowCardinality(String),
    task          LowCardinality(String),
    tenant        LowCardinality(String),
    feature       LowCardinality(String),
    api_key       LowCardinality(String),
    model         LowCardinality(String),
    provider      LowCardinality(String),
    decision      LowCardinality(String),
    outcome       LowCardinality(String),
    first         UInt8,
    attempts      UInt64,
    billable      UInt64,
    input_tokens  UInt64,
    output_tokens UInt64,
    cost_usd      Decimal(38, 9)
)
ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/routeledger/llm_rollup_day', '{replica}')
PARTITION BY toYYYYMM(bucket)
ORDER BY (bucket, route, task, tenant, feature, model, provider, decision, outcome, first, api_key)
SETTINGS replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 604800;

CREATE TABLE IF NOT EXISTS routeledger.llm_rollup_day ON CLUSTER '{cluster}' AS routeledger.llm_rollup_day_local
ENGINE = Distributed('{cluster}', routeledger, llm_rollup_day_local);

CREATE TABLE IF NOT EXISTS routeledger.llm_chain_attempts_local ON CLUSTER '{cluster}'
(
    ts            DateTime64(6, 'UTC'),
    rkey          UInt64,
    request_id    String,
    attempt       UInt8,
    decision      LowCardinality(String),
    route         LowCardinality(String),
    task          LowCardinality(String),
    tenant        LowCardinality(String),
    feature       LowCardinality(String),
    model         LowCardinality(String),
    provider      LowCardinality(String),
    outcome       LowCardinality(String),
    failure_class LowCardinality(String),
    billable      Bool,
    cost_usd      Decimal(18, 9)
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/routeledger/llm_chain_attempts', '{replica}')
PARTITION BY toDate(ts)
ORDER BY (rkey, attempt, ts)
SETTINGS replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 604800;

CREATE TABLE IF NOT EXISTS routeledger.llm_chain_attempts ON CLUSTER '{cluster}' AS routeledger.llm_chain_attempts_local
ENGINE = Distributed('{cluster}', routeledger, llm_chain_attempts_local);

-- The three views: the SELECTs of 0011_attempt_rollups.sql and 0012_chain_attempts.sql with
-- `FROM routeledger.llm_attempts_local` and `TO routeledger.<table>_local`.
-- CREATE MATERIALIZED VIEW IF NOT EXISTS routeledger.llm_rollup_hour_mv ON CLUSTER '{cluster}'
--     TO routeledger.llm_rollup_hour_local AS SELECT ... FROM routeledger.llm_attempts_local GROUP BY ...;
