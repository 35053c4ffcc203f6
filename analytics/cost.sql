-- Requests are those whose first attempt falls in the group (every request has exactly one
-- attempt 1): for route, task, tenant and feature that is every request; for model and provider,
-- the requests that started there.
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
    countIf(llm_attempts.attempt = 1)    AS requests,
    count()                              AS attempts,
    countIf(outcome = 'success')         AS answers,
    sum(llm_attempts.input_tokens)       AS input_tokens,
    sum(llm_attempts.output_tokens)      AS output_tokens,
    sum(llm_attempts.cost_usd)           AS cost_usd,
    sumIf(llm_attempts.cost_usd, outcome != 'success') AS failed_cost_usd
FROM llm_attempts
WHERE __SCOPE__
GROUP BY route, task, tenant, feature, model, provider
ORDER BY cost_usd DESC, route, task, tenant, feature, model, provider
