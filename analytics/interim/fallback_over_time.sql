-- Fallback share per time bucket, by route or by primary model (the model of the first attempt).
WITH per_request AS
(
    SELECT
        toStartOfInterval(min(ts), toIntervalSecond({bucket_s:UInt32})) AS bucket,
        if({by:String} = 'route', any(route), argMin(model, attempt))     AS name,
        countIf(decision = 'fallback') > 0                                AS fell_back
    FROM llm_attempts
    WHERE ts >= {since:DateTime64(6, 'UTC')} AND ts < {until:DateTime64(6, 'UTC')}
      AND (empty({routes:Array(String)}) OR has({routes:Array(String)}, llm_attempts.route))
      AND (empty({tasks:Array(String)}) OR has({tasks:Array(String)}, llm_attempts.task))
      AND (empty({tenants:Array(String)}) OR has({tenants:Array(String)}, llm_attempts.tenant))
      AND (empty({features:Array(String)}) OR has({features:Array(String)}, llm_attempts.feature))
      AND (empty({models:Array(String)}) OR has({models:Array(String)}, llm_attempts.model))
      AND (empty({providers:Array(String)}) OR has({providers:Array(String)}, llm_attempts.provider))
    GROUP BY request_id
)
SELECT bucket, name, count() AS requests, countIf(fell_back) AS fallbacks,
       round(fallbacks / requests, 6) AS fallback_share
FROM per_request
GROUP BY bucket, name
ORDER BY bucket, name
