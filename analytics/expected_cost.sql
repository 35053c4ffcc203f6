-- Expected cost per request by request type (seed 001):
--     E = C1 + Pfb × C2 + Prt × Crt
-- C1: mean cost of the first attempt; Pfb, Prt: share of requests that fell back / retried;
-- C2, Crt: mean cost of the fallback / retry attempts of the requests that had them. The
-- probabilities come from the basis period [basis_since, until) (the last N weeks); the observed
-- mean cost per request is over the asked window [obs_since, until). Probabilities are Decimal so
-- 12 of 100 is exactly 0.12 and money stays exact.
WITH per_request AS (__REQUEST_FACTS__),
typed AS
(
    SELECT
        if({by_route:Bool}, r_route, '')        AS route,
        if({by_task:Bool}, r_task, '')          AS task,
        if({by_tenant:Bool}, r_tenant, '')      AS tenant,
        if({by_feature:Bool}, r_feature, '')    AS feature,
        if({by_model:Bool}, r_model, '')        AS model,
        if({by_provider:Bool}, r_provider, '')  AS provider,
        sumIf(w, started >= {basis_since:DateTime64(6, 'UTC')})                        AS basis_requests,
        sumIf(w, started >= {basis_since:DateTime64(6, 'UTC')} AND n_fallbacks > 0)   AS basis_fallbacks,
        sumIf(w, started >= {basis_since:DateTime64(6, 'UTC')} AND n_retries > 0)     AS basis_retries,
        sumIf(first_cost, started >= {basis_since:DateTime64(6, 'UTC')})               AS basis_first_cost,
        sumIf(fallback_cost, started >= {basis_since:DateTime64(6, 'UTC')})            AS basis_fallback_cost,
        sumIf(retry_cost, started >= {basis_since:DateTime64(6, 'UTC')})               AS basis_retry_cost,
        sumIf(w, started >= {obs_since:DateTime64(6, 'UTC')})                          AS observed_requests,
        sumIf(total_cost, started >= {obs_since:DateTime64(6, 'UTC')})                 AS observed_cost
    FROM per_request
    GROUP BY route, task, tenant, feature, model, provider
)
SELECT
    route, task, tenant, feature, model, provider,
    basis_requests,
    toDecimal128(basis_first_cost / greatest(basis_requests, 1), 9)                    AS c1_usd,
    toDecimal128(toDecimal128(basis_fallbacks, 9) / greatest(basis_requests, 1), 9)    AS p_fallback,
    toDecimal128(basis_fallback_cost / greatest(basis_fallbacks, 1), 9)                AS c2_usd,
    toDecimal128(toDecimal128(basis_retries, 9) / greatest(basis_requests, 1), 9)      AS p_retry,
    toDecimal128(basis_retry_cost / greatest(basis_retries, 1), 9)                     AS crt_usd,
    toDecimal128(c1_usd + p_fallback * c2_usd + p_retry * crt_usd, 9)                  AS expected_usd,
    observed_requests,
    if(observed_requests = 0, NULL,
       toDecimal128(observed_cost / greatest(observed_requests, 1), 9))                AS observed_usd
FROM typed
WHERE basis_requests > 0 OR observed_requests > 0
ORDER BY route, task, tenant, feature, model, provider
