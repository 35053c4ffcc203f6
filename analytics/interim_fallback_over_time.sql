-- Fallback share per time bucket, by route or by primary model (the model of the first attempt).
-- Requests are their first attempts, from the attempt facts (rollup periods + the window's edges;
-- analytics/rollup.py only reads a rollup whose periods divide the bucket). A request fell back
-- when it has a fallback attempt in the window: a single-attempt request only if that attempt is
-- itself a fallback (its primary was skipped), read from the facts too; a multi-attempt request is
-- counted by its first attempt in the chain copy (bucket, route, model), when a fallback attempt of
-- the same request is in scope: a semi-join on the request hash, which costs about half the CPU of
-- grouping every chain attempt by request (a request has exactly one attempt 1).
-- Model and provider filter the primary (first) attempt, as in the fallback share job: the first
-- attempt takes every filter, the fallback attempt only the request-level ones.
-- Both halves are summed by bucket, route and model before the name is picked: the bound `by`
-- choice then runs on a few hundred rows, not on every request.
SELECT
    bucket,
    if({by:String} = 'route', route, model)   AS name,
    sum(req)                                  AS requests,
    sum(fell_back)                            AS fallbacks,
    round(fallbacks / requests, 6)            AS fallback_share
FROM
(
    SELECT
        toStartOfInterval(facts.ts, toIntervalSecond({bucket_s:UInt32}))         AS bucket,
        facts.route                                                               AS route,
        facts.model                                                               AS model,
        sum(facts.n)                                                              AS req,
        sumIf(facts.n, facts.outcome = 'success' AND facts.decision = 'fallback') AS fell_back
    FROM (__FACTS__) AS facts
    WHERE facts.first = 1
    GROUP BY bucket, route, model
    UNION ALL
    SELECT
        toStartOfInterval(llm_attempts.ts, toIntervalSecond({bucket_s:UInt32})) AS bucket,
        llm_attempts.route                                                       AS route,
        llm_attempts.model                                                       AS model,
        toUInt64(0)                                                              AS req,
        count()                                                                  AS fell_back
    FROM (__CHAINS__) AS llm_attempts
    WHERE __SCOPE__ AND llm_attempts.attempt = 1
      AND llm_attempts.rkey IN
          (SELECT llm_attempts.rkey FROM (__CHAINS__) AS llm_attempts
           WHERE __REQUEST_SCOPE__ AND llm_attempts.decision = 'fallback')
    GROUP BY bucket, route, model
)
GROUP BY bucket, name
ORDER BY bucket, name
