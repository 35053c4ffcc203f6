-- Headline numbers for one window in one scan (dashboard Overview): requests, answers, spend, cost
-- per successful answer (every attempt of the window, failed ones included, over the requests that
-- got an answer), the fallback share and the latency percentiles of attempts that were sent.
WITH per_request AS
(
    SELECT
        request_id,
        countIf(decision = 'fallback') > 0  AS fell_back,
        countIf(outcome = 'success') > 0    AS answered
    FROM llm_attempts
    WHERE __SCOPE__
    GROUP BY request_id
),
attempts AS
(
    SELECT
        count()                                                      AS attempts,
        sum(llm_attempts.cost_usd)                                   AS cost_usd,
        sumIf(llm_attempts.cost_usd, llm_attempts.outcome != 'success') AS failed_cost_usd,
        quantilesIf(0.5, 0.95, 0.99)(llm_attempts.duration_ms, llm_attempts.outcome != 'skipped') AS latency_ms
    FROM llm_attempts
    WHERE __SCOPE__
),
requests AS
(
    SELECT count() AS requests, countIf(answered) AS answered, countIf(fell_back) AS fallbacks FROM per_request
)
SELECT
    requests.requests                                       AS requests,
    requests.answered                                       AS answered,
    requests.fallbacks                                      AS fallbacks,
    if(requests.requests = 0, 0, round(requests.fallbacks / requests.requests, 6)) AS fallback_share,
    attempts.attempts                                       AS attempts,
    attempts.cost_usd                                       AS cost_usd,
    attempts.failed_cost_usd                                AS failed_cost_usd,
    if(requests.answered = 0, NULL, attempts.cost_usd / requests.answered) AS cost_per_answer_usd,
    if(attempts.attempts = 0, NULL, attempts.latency_ms[1]) AS p50_ms,
    if(attempts.attempts = 0, NULL, attempts.latency_ms[2]) AS p95_ms,
    if(attempts.attempts = 0, NULL, attempts.latency_ms[3]) AS p99_ms
FROM requests CROSS JOIN attempts
