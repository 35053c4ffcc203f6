-- Fallback and retry share of requests, by one key chosen from a closed set (bound as a string):
-- overall, route, task, tenant, feature, model or provider (the primary's), or hour of day (UTC).
-- __KEY__ is that key's column expression, from the constant table in jobs.py.
WITH per_request AS (__REQUEST_FACTS__)
SELECT
    {by:String} AS scope,
    __KEY__                                  AS name,
    sum(w)                                   AS requests,
    sumIf(w, n_fallbacks > 0)                AS fallbacks,
    sumIf(w, n_retries > 0)                  AS retries,
    sumIf(w, answered)                       AS answered,
    round(fallbacks / requests, 6)           AS fallback_share,
    round(retries / requests, 6)             AS retry_share,
    toBool(fallback_share > {threshold:Float64} AND requests >= {min_requests:UInt64}) AS flagged
FROM per_request
GROUP BY name
ORDER BY if({by:String} = 'hour', name, ''), fallback_share DESC, name
