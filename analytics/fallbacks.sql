-- Fallback and retry share: overall, by route, and by primary model (the model whose failure
-- made the chain move on). A share above the threshold with enough volume is flagged
-- (seed 001: above 3-5% without a clear reason, the chain needs work).
--
-- The requests of request_facts.sql, read for the four counts this job needs and no more: those
-- answered by their first attempt from the attempt facts (many requests per row); every other one
-- grouped by request over its attempts in the chain copy, with the same scope (request-level
-- filters on the attempts, model and provider on the primary). That grouping keeps the request's
-- route and primary model as 64-bit hashes of the names: aggregate states of numbers, not strings,
-- cost ~30% less CPU over ~1M requests. Requests are then summed by what the three groupings read
-- into `chained`, one scalar computed once with an example request per row; `names` reads the names
-- back from those examples' attempts alone, found by the copy's sorting key (rkey): a few granules.
WITH
    (
        SELECT groupArray((route_h, model_h, fell_back, retried, answered, w, example))
        FROM
        (
            SELECT route_h, model_h, n_fallbacks > 0 AS fell_back, n_retries > 0 AS retried, answered,
                   count() AS w, any(rkey) AS example
            FROM
            (
                SELECT
                    llm_attempts.rkey                                                 AS rkey,
                    any(cityHash64(llm_attempts.route))                               AS route_h,
                    argMin(cityHash64(llm_attempts.model), llm_attempts.attempt)      AS model_h,
                    argMin(llm_attempts.model, llm_attempts.attempt)                  AS r_model,
                    argMin(llm_attempts.provider, llm_attempts.attempt)               AS r_provider,
                    countIf(llm_attempts.decision = 'fallback')                       AS n_fallbacks,
                    countIf(llm_attempts.decision = 'retry')                          AS n_retries,
                    toUInt8(countIf(llm_attempts.outcome = 'success') > 0)            AS answered
                FROM (__CHAINS__) AS llm_attempts
                WHERE __REQUEST_SCOPE__
                GROUP BY llm_attempts.rkey
                HAVING __PRIMARY_SCOPE__
            )
            GROUP BY route_h, model_h, fell_back, retried, answered
        )
    ) AS chained,
    (
        SELECT (arrayMap(n -> cityHash64(n), groupArray(name)), groupArray(name))
        FROM
        (
            SELECT DISTINCT arrayJoin([toString(llm_attempts.route), toString(llm_attempts.model)]) AS name
            FROM (__CHAINS__) AS llm_attempts
            WHERE llm_attempts.rkey IN (SELECT (arrayJoin(chained)).7)
        )
    ) AS names,
requests AS
(
    SELECT
        facts.route                          AS r_route,
        facts.model                          AS r_model,
        facts.decision = 'fallback'          AS fell_back,
        facts.decision = 'retry'             AS retried,
        toUInt8(1)                           AS answered,
        facts.n                              AS w
    FROM (__FACTS__) AS facts
    WHERE facts.first = 1 AND facts.outcome = 'success'
    UNION ALL
    SELECT
        (names.2)[indexOf(names.1, c.1)],
        (names.2)[indexOf(names.1, c.2)],
        c.3,
        c.4,
        c.5,
        c.6
    FROM (SELECT arrayJoin(chained) AS c)
),
grouped AS
(
    SELECT
        multiIf(grouping(r_route, r_model) = 3, 'overall', grouping(r_route, r_model) = 2, 'model', 'route') AS scope,
        multiIf(scope = 'route', r_route, scope = 'model', r_model, '') AS name,
        sum(w)                      AS requests,
        sumIf(w, fell_back)         AS fallbacks,
        sumIf(w, retried)           AS retries,
        sumIf(w, answered)          AS answered
    FROM requests
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
