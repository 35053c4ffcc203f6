-- Attempt facts of a window (put in for the facts marker): the day rollup's whole days inside
-- [roll_since, roll_until) plus every attempt of the window outside them, one row each, with the
-- same columns (see facts_hour.sql). The day rollup has every dimension, so tenant- and
-- feature-level questions use it, and so do questions by API key (`api_key`, migration 0021).
SELECT
    toDateTime64(bucket, 6, 'UTC')       AS ts,
    route, task, tenant, feature,
    model, provider, decision, outcome, first,
    attempts                             AS n,
    api_key,
    billable, input_tokens, output_tokens,
    cost_usd
FROM llm_rollup_day
WHERE bucket >= {roll_since:DateTime64(6, 'UTC')} AND bucket < {roll_until:DateTime64(6, 'UTC')}
  AND __ROLLUP_SCOPE__
UNION ALL
SELECT
    llm_attempts.ts, llm_attempts.route, llm_attempts.task, llm_attempts.tenant, llm_attempts.feature,
    llm_attempts.model, llm_attempts.provider, llm_attempts.decision, llm_attempts.outcome,
    toUInt8(llm_attempts.attempt = 1),
    toUInt64(1),
    llm_attempts.api_key,
    toUInt64(llm_attempts.billable AND llm_attempts.outcome != 'skipped'),
    toUInt64(llm_attempts.input_tokens),
    toUInt64(llm_attempts.output_tokens),
    toDecimal128(llm_attempts.cost_usd, 9)
FROM llm_attempts
WHERE __SCOPE__
  AND (llm_attempts.ts < {roll_since:DateTime64(6, 'UTC')} OR llm_attempts.ts >= {roll_until:DateTime64(6, 'UTC')})
