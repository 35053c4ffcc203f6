-- Fallback share per time bucket, by route or by primary model (the model of the first attempt).
-- Requests are their first attempts; a request fell back when its id is among the fallback rows
-- (a small set), so no GROUP BY over every request id is needed. Model and provider filter the
-- primary (first) attempt, as in the fallback share job.
SELECT
    toStartOfInterval(llm_attempts.ts, toIntervalSecond({bucket_s:UInt32}))  AS bucket,
    if({by:String} = 'route', llm_attempts.route, llm_attempts.model)        AS name,
    count()                                                                   AS requests,
    countIf(llm_attempts.request_id IN
        (SELECT request_id FROM llm_attempts WHERE __REQUEST_SCOPE__ AND llm_attempts.decision = 'fallback')) AS fallbacks,
    round(fallbacks / requests, 6)                                            AS fallback_share
FROM llm_attempts
WHERE __SCOPE__ AND llm_attempts.attempt = 1
GROUP BY bucket, name
ORDER BY bucket, name
