-- Why attempts failed: failure class by model, with what the failed attempts cost and how many
-- the chain answered anyway.
SELECT
    failure_class,
    model,
    count()        AS attempts,
    sum(cost_usd)  AS cost_usd,
    any(reason)    AS example_reason
FROM llm_attempts
WHERE ts >= {since:DateTime64(6, 'UTC')} AND ts < {until:DateTime64(6, 'UTC')}
  AND outcome = 'failure'
      AND (empty({routes:Array(String)}) OR has({routes:Array(String)}, llm_attempts.route))
      AND (empty({tasks:Array(String)}) OR has({tasks:Array(String)}, llm_attempts.task))
      AND (empty({tenants:Array(String)}) OR has({tenants:Array(String)}, llm_attempts.tenant))
      AND (empty({features:Array(String)}) OR has({features:Array(String)}, llm_attempts.feature))
      AND (empty({models:Array(String)}) OR has({models:Array(String)}, llm_attempts.model))
      AND (empty({providers:Array(String)}) OR has({providers:Array(String)}, llm_attempts.provider))
GROUP BY failure_class, model
ORDER BY attempts DESC, failure_class, model
