-- Fallback share per time bucket, by route or by primary model (the model of the first attempt).
-- Requests are their first attempts, from the attempt facts (rollup periods + the window's edges;
-- analytics/rollup.py only reads a rollup whose periods divide the bucket). A request fell back
-- when it has a fallback attempt in the window: a single-attempt request only if that attempt is
-- itself a fallback (its primary was skipped), read from the facts too; a multi-attempt request is
-- grouped over its attempts in the chain copy and counted in its first attempt's bucket and name.
-- Model and provider filter the primary (first) attempt, as in the fallback share job.
SELECT
    bucket,
    name,
    sum(req)                                  AS requests,
    sum(fell_back)                            AS fallbacks,
    round(fallbacks / requests, 6)            AS fallback_share
FROM
(
    SELECT
        toStartOfInterval(facts.ts, toIntervalSecond({bucket_s:UInt32}))         AS bucket,
        if({by:String} = 'route', facts.route, facts.model)                      AS name,
        facts.n                                                                   AS req,
        if(facts.outcome = 'success' AND facts.decision = 'fallback', facts.n, 0) AS fell_back
    FROM (__FACTS__) AS facts
    WHERE facts.first = 1
    UNION ALL
    SELECT
        toStartOfInterval(anyIf(llm_attempts.ts, llm_attempts.attempt = 1), toIntervalSecond({bucket_s:UInt32})) AS bucket,
        if({by:String} = 'route', any(llm_attempts.route), anyIf(llm_attempts.model, llm_attempts.attempt = 1)) AS name,
        toUInt64(0)                                                               AS req,
        toUInt64(1)                                                               AS fell_back
    FROM (__CHAINS__) AS llm_attempts
    WHERE __REQUEST_SCOPE__
    GROUP BY llm_attempts.rkey
    HAVING countIf(llm_attempts.attempt = 1) > 0 AND countIf(llm_attempts.decision = 'fallback') > 0
       AND (empty({models:Array(String)}) OR has({models:Array(String)}, anyIf(llm_attempts.model, llm_attempts.attempt = 1)))
       AND (empty({providers:Array(String)}) OR has({providers:Array(String)}, anyIf(llm_attempts.provider, llm_attempts.attempt = 1)))
)
GROUP BY bucket, name
ORDER BY bucket, name
