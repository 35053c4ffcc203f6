-- Headline numbers for one window (dashboard Overview): requests, answers, spend, cost per
-- successful answer (every attempt of the window, failed ones included, over the requests that got
-- an answer), the fallback share and the latency percentiles of attempts that were sent.
-- Counts and money come from the attempt facts (rollup periods + the window's edges): a request has
-- exactly one attempt 1 and at most one successful attempt, so both are row counts. Requests that
-- fell back: the distinct multi-attempt requests with a fallback attempt (chain copy) plus the
-- single-attempt ones whose only attempt was a fallback (their primary was skipped). Percentiles
-- need the attempts' durations themselves.
WITH
    (
        SELECT uniqExactIf(llm_attempts.rkey, llm_attempts.decision = 'fallback')
        FROM (__CHAINS__) AS llm_attempts
        WHERE __SCOPE__
    ) AS chain_fallbacks,
    (
        SELECT quantilesIf(0.5, 0.95, 0.99)(llm_attempts.duration_ms, llm_attempts.outcome != 'skipped')
        FROM llm_attempts
        WHERE __SCOPE__
    ) AS q
SELECT
    sumIf(facts.n, facts.first = 1)                                  AS requests,
    sumIf(facts.n, facts.outcome = 'success')                        AS answered,
    chain_fallbacks
        + sumIf(facts.n, facts.first = 1 AND facts.outcome = 'success' AND facts.decision = 'fallback') AS fallbacks,
    if(requests = 0, 0, round(fallbacks / requests, 6))              AS fallback_share,
    sum(facts.n)                                                     AS attempts,
    sum(facts.cost_usd)                                              AS cost_usd,
    sumIf(facts.cost_usd, facts.outcome != 'success')                AS failed_cost_usd,
    if(answered = 0, NULL, cost_usd / answered)                      AS cost_per_answer_usd,
    q,
    if(attempts = 0, NULL, q[1])                                     AS p50_ms,
    if(attempts = 0, NULL, q[2])                                     AS p95_ms,
    if(attempts = 0, NULL, q[3])                                     AS p99_ms
FROM (__FACTS__) AS facts
