-- Fallback share per time bucket, by route or by primary model (the model of the first attempt).
WITH per_request AS
(
    SELECT
        toStartOfInterval(min(llm_attempts.ts), toIntervalSecond({bucket_s:UInt32})) AS bucket,
        if({by:String} = 'route', any(llm_attempts.route), argMin(llm_attempts.model, attempt)) AS name,
        countIf(decision = 'fallback') > 0                                            AS fell_back
    FROM llm_attempts
    WHERE __SCOPE__
    GROUP BY request_id
)
SELECT bucket, name, count() AS requests, countIf(fell_back) AS fallbacks,
       round(fallbacks / requests, 6) AS fallback_share
FROM per_request
GROUP BY bucket, name
ORDER BY bucket, name
