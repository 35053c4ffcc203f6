-- Fallback and retry share: overall, by route, and by primary model (the model whose failure
-- made the chain move on). A share above the threshold with enough volume is flagged
-- (seed 001: above 3-5% without a clear reason, the chain needs work).
WITH per_request AS
(
    SELECT
        request_id,
        any(route)                          AS request_route,
        argMin(model, attempt)              AS primary_model,
        countIf(decision = 'fallback') > 0  AS fell_back,
        countIf(decision = 'retry') > 0     AS retried,
        countIf(outcome = 'success') > 0    AS answered
    FROM llm_attempts
    WHERE __SCOPE__
    GROUP BY request_id
),
grouped AS
(
    SELECT 'overall' AS scope, '' AS name, count() AS requests, countIf(fell_back) AS fallbacks,
           countIf(retried) AS retries, countIf(answered) AS answered
    FROM per_request
    UNION ALL
    SELECT 'route', request_route, count(), countIf(fell_back), countIf(retried), countIf(answered)
    FROM per_request GROUP BY request_route
    UNION ALL
    SELECT 'model', primary_model, count(), countIf(fell_back), countIf(retried), countIf(answered)
    FROM per_request GROUP BY primary_model
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
