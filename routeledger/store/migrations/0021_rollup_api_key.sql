-- Spend per API key from the day rollup (the Budgets page, `analytics budget --by key`): the key's
-- configured name becomes one more dimension of llm_rollup_day. No row of the rollup can hold a key
-- yet (the column reached llm_attempts in 0020, in the same migration run), so existing rows read
-- as '' exactly as their attempts do, and no backfill is needed. A new sorting-key column may carry
-- no default expression: a String column's implicit default is '' anyway.
ALTER TABLE llm_rollup_day
    ADD COLUMN IF NOT EXISTS api_key LowCardinality(String) AFTER feature,
    MODIFY ORDER BY (bucket, route, task, tenant, feature, model, provider, decision, outcome, first, api_key);

ALTER TABLE llm_rollup_day_mv MODIFY QUERY
SELECT
    toStartOfDay(ts)                      AS bucket,
    route, task, tenant, feature, model, provider, decision, outcome,
    toUInt8(attempt = 1)                  AS first,
    api_key,
    count()                               AS attempts,
    countIf(billable AND outcome != 'skipped') AS billable,
    sum(input_tokens)                     AS input_tokens,
    sum(output_tokens)                    AS output_tokens,
    sum(cost_usd)                         AS cost_usd
FROM llm_attempts
GROUP BY bucket, route, task, tenant, feature, model, provider, decision, outcome, first, api_key
