-- Fallback and retry share overall, by route and by primary model, flagged above the threshold
-- with enough volume: the same rows and columns as `fallbacks.sql`, computed without a GROUP BY
-- over every request id (what makes that job slow on 10M rows). A request is its first attempt;
-- what happened after it (fallback, retry, a later answer) comes from the later attempts only
-- (~15% of a healthy ledger), grouped per request and joined on. GROUPING SETS serve the three
-- groupings (overall, route, model) from one scan; grouping() is standard here: a bit is set for a
-- column the set leaves out, so 3 = overall, 1 = by route, 2 = by model.
-- Route, task, tenant and feature filter every attempt; model and provider filter the primary.
SELECT
    grouping(first.first_route, first.first_model)                        AS g,
    multiIf(g = 3, 'overall', g = 1, 'route', 'model')                    AS scope,
    multiIf(g = 3, '', g = 1, first.first_route, first.first_model)       AS name,
    count()                                AS requests,
    countIf(later.fell_back)               AS fallbacks,
    countIf(later.retried)                 AS retries,
    countIf(first.answered OR later.answered_later) AS answered,
    round(fallbacks / requests, 6)         AS fallback_share,
    round(retries / requests, 6)           AS retry_share,
    toBool(fallback_share > {threshold:Float64} AND requests >= {min_requests:UInt64}) AS flagged
FROM
(
    SELECT
        llm_attempts.request_id           AS request_id,
        toString(llm_attempts.route)      AS first_route,
        toString(llm_attempts.model)      AS first_model,
        llm_attempts.outcome = 'success'  AS answered
    FROM llm_attempts
    WHERE __SCOPE__ AND llm_attempts.attempt = 1
) AS first
LEFT JOIN
(
    SELECT
        llm_attempts.request_id                       AS request_id,
        max(llm_attempts.decision = 'fallback')       AS fell_back,
        max(llm_attempts.decision = 'retry')          AS retried,
        max(llm_attempts.outcome = 'success')         AS answered_later
    FROM llm_attempts
    WHERE __REQUEST_SCOPE__ AND llm_attempts.attempt > 1
    GROUP BY llm_attempts.request_id
) AS later USING (request_id)
GROUP BY GROUPING SETS ((), (first.first_route), (first.first_model))
HAVING requests > 0
ORDER BY indexOf(['overall', 'route', 'model'], scope), fallback_share DESC, name
