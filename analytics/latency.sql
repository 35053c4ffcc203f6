-- Latency of upstream attempts (full response) and time to first token, p50/p95/p99 in ms.
SELECT
    if({by_route:Bool}, route, '')       AS route,
    if({by_task:Bool}, task, '')         AS task,
    if({by_tenant:Bool}, tenant, '')     AS tenant,
    if({by_feature:Bool}, feature, '')   AS feature,
    if({by_model:Bool}, model, '')       AS model,
    if({by_provider:Bool}, provider, '') AS provider,
    count()                              AS attempts,
    countIf(llm_attempts.outcome = 'success') AS answers,
    quantilesExactLow(0.5, 0.95, 0.99)(llm_attempts.duration_ms) AS q,
    quantilesExactLow(0.5, 0.95)(llm_attempts.ttft_ms)           AS t,
    round(q[1], 3)                       AS p50_ms,
    round(q[2], 3)                       AS p95_ms,
    round(q[3], 3)                       AS p99_ms,
    if(count(llm_attempts.ttft_ms) = 0, NULL, round(t[1], 3)) AS ttft_p50_ms,
    if(count(llm_attempts.ttft_ms) = 0, NULL, round(t[2], 3)) AS ttft_p95_ms
FROM llm_attempts
WHERE __SCOPE__ AND llm_attempts.outcome IN ('success', 'failure')
GROUP BY route, task, tenant, feature, model, provider
ORDER BY route, task, tenant, feature, model, provider
