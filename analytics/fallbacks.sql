-- Fallback and retry share: overall, by route, and by primary model (the model whose failure
-- made the chain move on). A share above the threshold with enough volume is flagged
-- (seed 001: above 3-5% without a clear reason, the chain needs work).
WITH per_request AS (__PER_REQUEST__),
grouped AS
(
    SELECT 'overall' AS scope, '' AS name, count() AS requests, countIf(n_fallbacks > 0) AS fallbacks,
           countIf(n_retries > 0) AS retries, countIf(answered) AS answered
    FROM per_request
    UNION ALL
    SELECT 'route', r_route, count(), countIf(n_fallbacks > 0), countIf(n_retries > 0), countIf(answered)
    FROM per_request GROUP BY r_route
    UNION ALL
    SELECT 'model', r_model, count(), countIf(n_fallbacks > 0), countIf(n_retries > 0), countIf(answered)
    FROM per_request GROUP BY r_model
)
SELECT
    scope,
    name,
    requests,
    fallbacks,
    retries,
    answered,
    round(fallbacks / requests, 6)   AS fallback_share,
    round(retries / requests, 6)     AS retry_share,
    toBool(fallback_share > {threshold:Float64} AND requests >= {min_requests:UInt64}) AS flagged
FROM grouped
WHERE requests > 0
ORDER BY indexOf(['overall', 'route', 'model'], scope), fallback_share DESC, name
