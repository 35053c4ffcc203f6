-- Requests of a window in weighted rows (the request-facts marker): `w` requests per row, each
-- with the same route, task, tenant, feature, primary model and provider, chain moves (n_fallbacks,
-- n_retries) and answer flag; costs, attempts and billable attempts are the row's totals. Jobs
-- count requests as sum(w) and add the totals up.
--
-- Two halves, as in per_request.sql. A request answered by its first attempt has exactly one row
-- (success ends the chain) and no grouping: those come from the attempt facts (facts_*.sql: the
-- rollup's whole periods plus the attempts at the window's edges), many requests per row. Every
-- other request (~10%: no (attempt 1, success) row) is grouped by a 64-bit hash of its id over the
-- window's attempts, one request per row, exactly as before; its attempts come from the chain copy
-- (chains_*.sql, aliased as llm_attempts so the shared scope clause applies unchanged).
SELECT
    facts.ts                                            AS started,
    facts.route                                         AS r_route,
    facts.task                                          AS r_task,
    facts.tenant                                        AS r_tenant,
    facts.feature                                       AS r_feature,
    facts.model                                         AS r_model,
    facts.provider                                      AS r_provider,
    facts.n                                             AS w,
    facts.n                                             AS n_attempts,
    toUInt64(facts.decision = 'fallback')               AS n_fallbacks,
    toUInt64(facts.decision = 'retry')                  AS n_retries,
    toUInt8(1)                                          AS answered,
    facts.billable                                      AS n_billable,
    facts.cost_usd                                      AS total_cost,
    facts.cost_usd                                      AS first_cost,
    if(facts.decision = 'fallback', facts.cost_usd, toDecimal128(0, 9)) AS fallback_cost,
    if(facts.decision = 'retry', facts.cost_usd, toDecimal128(0, 9))    AS retry_cost,
    facts.cost_usd                                      AS answer_cost
FROM (__FACTS__) AS facts
WHERE facts.first = 1 AND facts.outcome = 'success'
UNION ALL
SELECT
    min(llm_attempts.ts)                                AS started,
    any(llm_attempts.route)                             AS r_route,
    any(llm_attempts.task)                              AS r_task,
    any(llm_attempts.tenant)                            AS r_tenant,
    any(llm_attempts.feature)                           AS r_feature,
    argMin(llm_attempts.model, llm_attempts.attempt)    AS r_model,
    argMin(llm_attempts.provider, llm_attempts.attempt) AS r_provider,
    toUInt64(1)                                         AS w,
    count()                                             AS n_attempts,
    countIf(llm_attempts.decision = 'fallback')         AS n_fallbacks,
    countIf(llm_attempts.decision = 'retry')            AS n_retries,
    toUInt8(countIf(llm_attempts.outcome = 'success') > 0) AS answered,
    countIf(llm_attempts.billable AND llm_attempts.outcome != 'skipped') AS n_billable,
    toDecimal128(sum(llm_attempts.cost_usd), 9)         AS total_cost,
    toDecimal128(argMin(llm_attempts.cost_usd, llm_attempts.attempt), 9) AS first_cost,
    toDecimal128(sumIf(llm_attempts.cost_usd, llm_attempts.decision = 'fallback'), 9) AS fallback_cost,
    toDecimal128(sumIf(llm_attempts.cost_usd, llm_attempts.decision = 'retry'), 9)    AS retry_cost,
    toDecimal128(sumIf(llm_attempts.cost_usd, llm_attempts.outcome = 'success'), 9)   AS answer_cost
FROM (__CHAINS__) AS llm_attempts
WHERE __REQUEST_SCOPE__
GROUP BY llm_attempts.rkey
HAVING __PRIMARY_SCOPE__
