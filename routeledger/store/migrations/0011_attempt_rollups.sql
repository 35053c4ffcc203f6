-- Additive rollups of `llm_attempts` so dashboard jobs read O(periods x dimensions) rows instead of
-- every attempt (analytics/rollup.py decides which one a query can use and scans only the partial
-- periods at the window's edges from `llm_attempts`, so any microsecond window stays exact).
--
-- Two grains, because the key that compresses depends on the dimensions a query touches:
--   llm_rollup_hour  per UTC hour, by route, task, model, provider (no tenant or feature: with them
--                    an hour holds about as many keys as attempts and nothing is saved);
--   llm_rollup_day   per UTC day, by every dimension (tenant- and feature-level questions).
-- Both are also keyed by decision, outcome and whether the row is a first attempt, which is what
-- the jobs count by; every other column is a sum. SummingMergeTree adds rows with the same key
-- when parts merge; readers always aggregate, so unmerged parts give the same answer.
--
-- The views see every later insert into `llm_attempts` (late attempts included: an attempt written
-- a day after its hour is added to that hour's sums). A retried batch (same
-- insert_deduplication_token, deduplicate_blocks_in_dependent_materialized_views = 1) is dropped
-- here as in the source, hence the deduplication window on both tables.
--
-- Upgrade path: the views only see new inserts, so the rows already in `llm_attempts` are summed in
-- once here. The migration runs before the store takes writes (the collector migrates on start);
-- if it stops half way its version row is missing and it runs again from the top, so the view is
-- dropped and the table emptied before the backfill: the backfill is counted exactly once.
CREATE TABLE IF NOT EXISTS llm_rollup_hour
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
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(bucket)
ORDER BY (bucket, route, task, model, provider, decision, outcome, first)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS llm_rollup_day
(
    bucket        DateTime('UTC'),
    route         LowCardinality(String),
    task          LowCardinality(String),
    tenant        LowCardinality(String),
    feature       LowCardinality(String),
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
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(bucket)
ORDER BY (bucket, route, task, tenant, feature, model, provider, decision, outcome, first)
SETTINGS non_replicated_deduplication_window = 10000;

DROP VIEW IF EXISTS llm_rollup_hour_mv;

DROP VIEW IF EXISTS llm_rollup_day_mv;

TRUNCATE TABLE IF EXISTS llm_rollup_hour;

TRUNCATE TABLE IF EXISTS llm_rollup_day;

INSERT INTO llm_rollup_hour
SELECT
    toStartOfHour(ts)                     AS bucket,
    route, task, model, provider, decision, outcome,
    toUInt8(attempt = 1)                  AS first,
    count()                               AS attempts,
    countIf(billable AND outcome != 'skipped') AS billable,
    sum(input_tokens)                     AS input_tokens,
    sum(output_tokens)                    AS output_tokens,
    sum(cost_usd)                         AS cost_usd
FROM llm_attempts
GROUP BY bucket, route, task, model, provider, decision, outcome, first;

INSERT INTO llm_rollup_day
SELECT
    toStartOfDay(ts)                      AS bucket,
    route, task, tenant, feature, model, provider, decision, outcome,
    toUInt8(attempt = 1)                  AS first,
    count()                               AS attempts,
    countIf(billable AND outcome != 'skipped') AS billable,
    sum(input_tokens)                     AS input_tokens,
    sum(output_tokens)                    AS output_tokens,
    sum(cost_usd)                         AS cost_usd
FROM llm_attempts
GROUP BY bucket, route, task, tenant, feature, model, provider, decision, outcome, first;

CREATE MATERIALIZED VIEW IF NOT EXISTS llm_rollup_hour_mv TO llm_rollup_hour AS
SELECT
    toStartOfHour(ts)                     AS bucket,
    route, task, model, provider, decision, outcome,
    toUInt8(attempt = 1)                  AS first,
    count()                               AS attempts,
    countIf(billable AND outcome != 'skipped') AS billable,
    sum(input_tokens)                     AS input_tokens,
    sum(output_tokens)                    AS output_tokens,
    sum(cost_usd)                         AS cost_usd
FROM llm_attempts
GROUP BY bucket, route, task, model, provider, decision, outcome, first;

CREATE MATERIALIZED VIEW IF NOT EXISTS llm_rollup_day_mv TO llm_rollup_day AS
SELECT
    toStartOfDay(ts)                      AS bucket,
    route, task, tenant, feature, model, provider, decision, outcome,
    toUInt8(attempt = 1)                  AS first,
    count()                               AS attempts,
    countIf(billable AND outcome != 'skipped') AS billable,
    sum(input_tokens)                     AS input_tokens,
    sum(output_tokens)                    AS output_tokens,
    sum(cost_usd)                         AS cost_usd
FROM llm_attempts
GROUP BY bucket, route, task, tenant, feature, model, provider, decision, outcome, first
