-- Cost per successful answer including the retries and fallbacks it took (seed 001: count the
-- average of every branch that runs, not the price of a successful first attempt).
WITH per_request AS (__REQUEST_FACTS__)
SELECT
    if({by_route:Bool}, r_route, '')        AS route,
    if({by_task:Bool}, r_task, '')          AS task,
    if({by_tenant:Bool}, r_tenant, '')      AS tenant,
    if({by_feature:Bool}, r_feature, '')    AS feature,
    if({by_model:Bool}, r_model, '')        AS model,
    if({by_provider:Bool}, r_provider, '')  AS provider,
    sum(w)                                  AS requests,
    sumIf(w, answered)                      AS answers,
    sum(n_attempts)                         AS attempts,
    sum(total_cost)                         AS cost_usd,
    sum(total_cost - first_cost)            AS chain_overhead_usd,
    sum(total_cost) / requests              AS cost_per_request_usd,
    if(answers = 0, NULL, sum(total_cost) / greatest(answers, 1)) AS cost_per_answer_usd,
    sum(first_cost) / requests              AS first_attempt_cost_usd
FROM per_request
GROUP BY route, task, tenant, feature, model, provider
ORDER BY cost_usd DESC, route, task, tenant, feature, model, provider
