-- Per route or primary model, per window counted back from `until` (index 0 = the current window,
-- 1..N = the baseline): requests, fallback share, cost per request and p95 request latency (the
-- sum of a request's attempt durations, what the user waited).
WITH per_request AS (__PER_REQUEST__)
SELECT
    __KEY__                                       AS name,
    intDiv(toUnixTimestamp64Micro({until:DateTime64(6, 'UTC')}) - 1 - toUnixTimestamp64Micro(started),
           {bucket_us:UInt64})                    AS window_index,
    count()                                       AS requests,
    countIf(n_fallbacks > 0) / count()            AS fallback_share,
    toFloat64(sum(total_cost)) / count()          AS cost_per_request,
    quantileExactLow(0.95)(total_ms)              AS p95_ms
FROM per_request
GROUP BY name, window_index
ORDER BY name, window_index
