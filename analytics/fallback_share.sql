-- Fallback and retry share of requests, by one key chosen from a closed set (bound as a string):
-- overall, route, task, tenant, feature, model or provider (the primary's), or hour of day (UTC).
WITH per_request AS (__PER_REQUEST__)
SELECT
    {by:String} AS scope,
    multiIf(
        {by:String} = 'route', r_route,
        {by:String} = 'task', r_task,
        {by:String} = 'tenant', r_tenant,
        {by:String} = 'feature', r_feature,
        {by:String} = 'model', r_model,
        {by:String} = 'provider', r_provider,
        {by:String} = 'hour', leftPad(toString(toHour(started)), 2, '0'),
        '')                                  AS name,
    count()                                  AS requests,
    countIf(n_fallbacks > 0)                 AS fallbacks,
    countIf(n_retries > 0)                   AS retries,
    countIf(answered)                        AS answered,
    round(fallbacks / requests, 6)           AS fallback_share,
    round(retries / requests, 6)             AS retry_share,
    toBool(fallback_share > {threshold:Float64} AND requests >= {min_requests:UInt64}) AS flagged
FROM per_request
GROUP BY name
ORDER BY if({by:String} = 'hour', name, ''), fallback_share DESC, name
