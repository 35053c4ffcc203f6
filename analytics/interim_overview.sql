-- Headline numbers for one window in one scan (dashboard Overview): requests, answers, spend, cost
-- per successful answer (every attempt of the window, failed ones included, over the requests that
-- got an answer), the fallback share and the latency percentiles of attempts that were sent.
-- No GROUP BY request_id: a request has exactly one attempt 1 and at most one successful attempt,
-- so both are row counts, and only the (few) fallback rows go into an exact distinct count. On 10M
-- rows this is one pass instead of a hash table of every request id.
SELECT
    countIf(llm_attempts.attempt = 1)                                AS requests,
    countIf(llm_attempts.outcome = 'success')                        AS answered,
    uniqExactIf(llm_attempts.request_id, llm_attempts.decision = 'fallback') AS fallbacks,
    if(requests = 0, 0, round(fallbacks / requests, 6))              AS fallback_share,
    count()                                                          AS attempts,
    sum(llm_attempts.cost_usd)                                       AS cost_usd,
    sumIf(llm_attempts.cost_usd, llm_attempts.outcome != 'success')  AS failed_cost_usd,
    if(answered = 0, NULL, cost_usd / answered)                      AS cost_per_answer_usd,
    quantilesIf(0.5, 0.95, 0.99)(llm_attempts.duration_ms, llm_attempts.outcome != 'skipped') AS q,
    if(attempts = 0, NULL, q[1])                                     AS p50_ms,
    if(attempts = 0, NULL, q[2])                                     AS p95_ms,
    if(attempts = 0, NULL, q[3])                                     AS p99_ms
FROM llm_attempts
WHERE __SCOPE__
