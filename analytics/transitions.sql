-- Chain transitions (retries + fallbacks) per request: mean, max and the distribution 0/1/2/3+.
WITH per_request AS (__REQUEST_FACTS__)
SELECT
    if({by_route:Bool}, r_route, '')        AS route,
    if({by_task:Bool}, r_task, '')          AS task,
    if({by_tenant:Bool}, r_tenant, '')      AS tenant,
    if({by_feature:Bool}, r_feature, '')    AS feature,
    if({by_model:Bool}, r_model, '')        AS model,
    if({by_provider:Bool}, r_provider, '')  AS provider,
    sum(w)                                  AS requests,
    round(sum(w * (n_fallbacks + n_retries)) / requests, 6) AS mean_transitions,
    max(n_fallbacks + n_retries)            AS max_transitions,
    sumIf(w, n_fallbacks + n_retries = 0)   AS none,
    sumIf(w, n_fallbacks + n_retries = 1)   AS one,
    sumIf(w, n_fallbacks + n_retries = 2)   AS two,
    sumIf(w, n_fallbacks + n_retries >= 3)  AS three_or_more
FROM per_request
GROUP BY route, task, tenant, feature, model, provider
ORDER BY mean_transitions DESC, route, task, tenant, feature, model, provider
