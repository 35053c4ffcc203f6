-- Attempt facts of a window (put in for the facts marker): the hour rollup's whole hours inside
-- [roll_since, roll_until) plus every attempt of the window outside them, one row each, with the
-- same columns. Consumers only add these up, so an hour row and the attempts it sums give the same
-- answer. `ts` is the hour's start for a rollup row; analytics/rollup.py only uses a rollup when
-- every time condition of the job falls on its period boundaries. tenant, feature and api_key are
-- '' here (the hour rollup is used only when no one asks about them).
SELECT
    toDateTime64(bucket, 6, 'UTC')       AS ts,
    route, task,
    ''                                   AS tenant,
    ''                                   AS feature,
    model, provider, decision, outcome, first,
    attempts                             AS n,
    ''                                   AS api_key,
    billable, input_tokens, output_tokens,
    cost_usd
FROM llm_rollup_hour
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
