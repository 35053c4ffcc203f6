-- Cost by any combination of route, task, tenant, feature, model, provider.
-- Requests are those whose first attempt falls in the group (every request has exactly one
-- attempt 1): for route, task, tenant and feature that is every request; for model and provider,
-- the requests that started there.
-- Read from the attempt facts (facts_*.sql: rollup periods inside the window + the attempts at its
-- edges), which only ever get added up. Dimensions not asked for are folded to '' by
-- analytics/scope.py; the caller drops those columns. Aggregates name the facts' columns with
-- `facts.` because the output aliases shadow them.
SELECT
    if({by_route:Bool}, route, '')       AS route,
    if({by_task:Bool}, task, '')         AS task,
    if({by_tenant:Bool}, tenant, '')     AS tenant,
    if({by_feature:Bool}, feature, '')   AS feature,
    if({by_model:Bool}, model, '')       AS model,
    if({by_provider:Bool}, provider, '') AS provider,
    sumIf(facts.n, facts.first = 1)                     AS requests,
    sumIf(facts.n, facts.outcome != 'skipped')          AS attempts,  -- refused by a guardrail: not an upstream call
    sumIf(facts.n, facts.outcome = 'success')           AS answers,
    sum(facts.input_tokens)                             AS input_tokens,
    sum(facts.output_tokens)                            AS output_tokens,
    sum(facts.cost_usd)                                 AS cost_usd,
    sumIf(facts.cost_usd, facts.outcome != 'success')   AS failed_cost_usd
FROM (__FACTS__) AS facts
GROUP BY route, task, tenant, feature, model, provider
ORDER BY cost_usd DESC, route, task, tenant, feature, model, provider
