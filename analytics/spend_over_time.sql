-- Spend per time bucket (bucket width bound in seconds), optionally split by dimensions.
SELECT
    toDateTime64(toStartOfInterval(llm_attempts.ts, toIntervalSecond({bucket_s:UInt32})), 0, 'UTC') AS bucket,
    if({by_route:Bool}, route, '')       AS route,
    if({by_task:Bool}, task, '')         AS task,
    if({by_tenant:Bool}, tenant, '')     AS tenant,
    if({by_feature:Bool}, feature, '')   AS feature,
    if({by_model:Bool}, model, '')       AS model,
    if({by_provider:Bool}, provider, '') AS provider,
    countIf(llm_attempts.attempt = 1)     AS requests,
    count()                              AS attempts,
    sum(llm_attempts.cost_usd)           AS cost_usd,
    sumIf(llm_attempts.cost_usd, llm_attempts.outcome != 'success') AS failed_cost_usd
FROM llm_attempts
WHERE __SCOPE__
GROUP BY bucket, route, task, tenant, feature, model, provider
ORDER BY bucket, route, task, tenant, feature, model, provider
