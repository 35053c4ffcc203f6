-- Latency percentiles of sent attempts and time to first token (streams), by model, provider or
-- route. Skipped attempts never reached a provider and are left out.
SELECT
    multiIf({by:String} = 'route', route, {by:String} = 'provider', provider, model) AS name,
    count()                                                   AS attempts,
    quantiles(0.5, 0.95, 0.99)(duration_ms)                   AS q,
    q[1]                                                      AS p50_ms,
    q[2]                                                      AS p95_ms,
    q[3]                                                      AS p99_ms,
    countIf(ttft_ms IS NOT NULL)                              AS streamed,
    quantilesIf(0.5, 0.95)(ttft_ms, ttft_ms IS NOT NULL)      AS t,
    if(streamed = 0, NULL, t[1])                              AS ttft_p50_ms,
    if(streamed = 0, NULL, t[2])                              AS ttft_p95_ms
FROM llm_attempts
WHERE ts >= {since:DateTime64(6, 'UTC')} AND ts < {until:DateTime64(6, 'UTC')}
  AND outcome != 'skipped'
      AND (empty({routes:Array(String)}) OR has({routes:Array(String)}, llm_attempts.route))
      AND (empty({tasks:Array(String)}) OR has({tasks:Array(String)}, llm_attempts.task))
      AND (empty({tenants:Array(String)}) OR has({tenants:Array(String)}, llm_attempts.tenant))
      AND (empty({features:Array(String)}) OR has({features:Array(String)}, llm_attempts.feature))
      AND (empty({models:Array(String)}) OR has({models:Array(String)}, llm_attempts.model))
      AND (empty({providers:Array(String)}) OR has({providers:Array(String)}, llm_attempts.provider))
GROUP BY name
ORDER BY p95_ms DESC, name
