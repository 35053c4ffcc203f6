-- The attempts of requests not answered by their first attempt (~10% of requests, ~25% of rows):
-- every row of `llm_attempts` except the (attempt 1, success) ones, with only the columns the
-- per-request jobs group (analytics/request_facts.sql, double_charges.sql), keyed by a 64-bit hash
-- of the request id and sorted by it. Those jobs must group these rows request by request (the primary model, the
-- chain moves); reading them here instead of filtering every attempt halves that work. Day
-- partitions, as in llm_attempts, so a week's question reads a week. A filtered copy, so exact by
-- construction; tests compare it with the raw table.
--
-- Filled by a view (late attempts and retried batches behave as in migration 0011) and, on a
-- ledger written before this migration, backfilled once: a rerun after an interruption drops the
-- view and empties the table first.
CREATE TABLE IF NOT EXISTS llm_chain_attempts
(
    ts          DateTime64(6, 'UTC'),
    rkey        UInt64,
    request_id  String,
    attempt     UInt8,
    decision    LowCardinality(String),
    route       LowCardinality(String),
    task        LowCardinality(String),
    tenant      LowCardinality(String),
    feature     LowCardinality(String),
    model       LowCardinality(String),
    provider    LowCardinality(String),
    outcome     LowCardinality(String),
    failure_class LowCardinality(String),
    billable    Bool,
    cost_usd    Decimal(18, 9)
)
ENGINE = MergeTree
PARTITION BY toDate(ts)
ORDER BY (rkey, attempt, ts)
SETTINGS non_replicated_deduplication_window = 10000;

DROP VIEW IF EXISTS llm_chain_attempts_mv;

TRUNCATE TABLE IF EXISTS llm_chain_attempts;

INSERT INTO llm_chain_attempts
SELECT ts, cityHash64(request_id) AS rkey, request_id, attempt, decision, route, task, tenant, feature, model, provider,
       outcome, failure_class, billable, cost_usd
FROM llm_attempts
WHERE NOT (attempt = 1 AND outcome = 'success');

CREATE MATERIALIZED VIEW IF NOT EXISTS llm_chain_attempts_mv TO llm_chain_attempts AS
SELECT ts, cityHash64(request_id) AS rkey, request_id, attempt, decision, route, task, tenant, feature, model, provider,
       outcome, failure_class, billable, cost_usd
FROM llm_attempts
WHERE NOT (attempt = 1 AND outcome = 'success')
