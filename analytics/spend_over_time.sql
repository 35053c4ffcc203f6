-- Spend per time bucket (bucket width bound in seconds), optionally split by dimensions. From the
-- attempt facts; analytics/rollup.py only reads a rollup whose periods divide the bucket.
SELECT
    toDateTime64(toStartOfInterval(facts.ts, toIntervalSecond({bucket_s:UInt32})), 0, 'UTC') AS bucket,
    if({by_route:Bool}, route, '')       AS route,
    if({by_task:Bool}, task, '')         AS task,
    if({by_tenant:Bool}, tenant, '')     AS tenant,
    if({by_feature:Bool}, feature, '')   AS feature,
    if({by_model:Bool}, model, '')       AS model,
    if({by_provider:Bool}, provider, '') AS provider,
    sumIf(facts.n, facts.first = 1)      AS requests,
    sum(facts.n)                         AS attempts,
    sum(facts.cost_usd)                  AS cost_usd,
    sumIf(facts.cost_usd, facts.outcome != 'success') AS failed_cost_usd
FROM (__FACTS__) AS facts
GROUP BY bucket, route, task, tenant, feature, model, provider
ORDER BY bucket, route, task, tenant, feature, model, provider
