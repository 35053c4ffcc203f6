-- Per route and chain hop (attempt position and model): how often the hop runs, how often it
-- rescues the request (answers after an earlier attempt failed), what it costs, what its failures
-- cost, its latency, and the context it is sent (for the weekly chain-pruning report).
SELECT
    llm_attempts.route                                   AS route,
    llm_attempts.attempt                                 AS hop,
    llm_attempts.model                                   AS model,
    any(llm_attempts.provider)                           AS provider,
    count()                                              AS runs,
    countIf(llm_attempts.outcome = 'success')            AS answers,
    countIf(llm_attempts.outcome = 'success' AND llm_attempts.attempt > 1) AS rescues,
    sum(llm_attempts.cost_usd)                           AS cost_usd,
    sumIf(llm_attempts.cost_usd, llm_attempts.outcome != 'success') AS wasted_usd,
    countIf(llm_attempts.failure_class IN ('timeout_before_first_byte', 'stall')) AS timeouts,
    sumIf(llm_attempts.duration_ms, llm_attempts.failure_class IN ('timeout_before_first_byte', 'stall')) AS timeout_ms,
    sumIf(llm_attempts.cost_usd, llm_attempts.failure_class IN ('timeout_before_first_byte', 'stall')) AS timeout_usd,
    quantilesExactLow(0.5, 0.95)(llm_attempts.duration_ms)    AS q,  -- one copy of the durations, not two
    round(q[1], 3)                                       AS p50_ms,
    round(q[2], 3)                                       AS p95_ms,
    round(quantileExactLowIf(0.95)(llm_attempts.duration_ms, llm_attempts.outcome = 'success'), 3) AS p95_success_ms,
    round(avg(llm_attempts.input_tokens), 1)             AS mean_input_tokens,
    sum(llm_attempts.input_tokens)                       AS input_tokens,
    sum(llm_attempts.output_tokens)                      AS output_tokens
FROM llm_attempts
WHERE __SCOPE__ AND llm_attempts.outcome != 'skipped'
GROUP BY route, hop, model
ORDER BY route, hop, runs DESC, model
