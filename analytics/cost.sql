-- Cost by any combination of route, task, tenant, feature, model, provider.
-- Dimensions not asked for collapse to '' so one statement serves every grouping without
-- building SQL text; the caller drops those columns. The WHERE clause names columns with their
-- table because the output aliases shadow them.
SELECT
    if({by_route:Bool}, route, '')       AS route,
    if({by_task:Bool}, task, '')         AS task,
    if({by_tenant:Bool}, tenant, '')     AS tenant,
    if({by_feature:Bool}, feature, '')   AS feature,
    if({by_model:Bool}, model, '')       AS model,
    if({by_provider:Bool}, provider, '') AS provider,
    uniqExact(request_id)                AS requests,
    count()                              AS attempts,
    countIf(outcome = 'success')         AS answers,
    sum(llm_attempts.input_tokens)       AS input_tokens,
    sum(llm_attempts.output_tokens)      AS output_tokens,
    sum(llm_attempts.cost_usd)           AS cost_usd,
    sumIf(llm_attempts.cost_usd, outcome != 'success') AS failed_cost_usd
FROM llm_attempts
WHERE ts >= {since:DateTime64(6, 'UTC')} AND ts < {until:DateTime64(6, 'UTC')}
  AND (empty({routes:Array(String)}) OR has({routes:Array(String)}, llm_attempts.route))
  AND (empty({tasks:Array(String)}) OR has({tasks:Array(String)}, llm_attempts.task))
  AND (empty({tenants:Array(String)}) OR has({tenants:Array(String)}, llm_attempts.tenant))
  AND (empty({features:Array(String)}) OR has({features:Array(String)}, llm_attempts.feature))
  AND (empty({models:Array(String)}) OR has({models:Array(String)}, llm_attempts.model))
  AND (empty({providers:Array(String)}) OR has({providers:Array(String)}, llm_attempts.provider))
GROUP BY route, task, tenant, feature, model, provider
ORDER BY cost_usd DESC, route, task, tenant, feature, model, provider
