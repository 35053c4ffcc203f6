-- Fallback and retry share: overall, by route, and by primary model (the model whose failure
-- made the chain move on). A share above the threshold with enough volume is flagged
-- (seed 001: above 3-5% without a clear reason, the chain needs work).
WITH per_request AS (__REQUEST_FACTS__),
grouped AS
(
    -- One pass over the requests for all three groupings (a CTE is inlined, not materialised).
    SELECT
        multiIf(grouping(r_route, r_model) = 3, 'overall', grouping(r_route, r_model) = 2, 'model', 'route') AS scope,
        multiIf(scope = 'route', r_route, scope = 'model', r_model, '') AS name,
        sum(w)                      AS requests,
        sumIf(w, n_fallbacks > 0)   AS fallbacks,
        sumIf(w, n_retries > 0)     AS retries,
        sumIf(w, answered)          AS answered
    FROM per_request
    GROUP BY GROUPING SETS ((), (r_route), (r_model))
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
