-- Spend per time bucket and one dimension (for stacked charts). The dimension is picked by a bound
-- name among fixed columns, so no caller text becomes SQL.
SELECT
    toStartOfInterval(ts, toIntervalSecond({bucket_s:UInt32})) AS bucket,
    multiIf({by:String} = 'route', route, {by:String} = 'task', task, {by:String} = 'tenant', tenant,
            {by:String} = 'feature', feature, {by:String} = 'model', model, provider) AS name,
    count()                      AS attempts,
    countIf(outcome = 'success') AS answers,
    sum(cost_usd)                AS cost_usd
FROM llm_attempts
WHERE ts >= {since:DateTime64(6, 'UTC')} AND ts < {until:DateTime64(6, 'UTC')}
      AND (empty({routes:Array(String)}) OR has({routes:Array(String)}, llm_attempts.route))
      AND (empty({tasks:Array(String)}) OR has({tasks:Array(String)}, llm_attempts.task))
      AND (empty({tenants:Array(String)}) OR has({tenants:Array(String)}, llm_attempts.tenant))
      AND (empty({features:Array(String)}) OR has({features:Array(String)}, llm_attempts.feature))
      AND (empty({models:Array(String)}) OR has({models:Array(String)}, llm_attempts.model))
      AND (empty({providers:Array(String)}) OR has({providers:Array(String)}, llm_attempts.provider))
GROUP BY bucket, name
ORDER BY bucket, name
