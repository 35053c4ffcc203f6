-- One row per request (put in for __PER_REQUEST__): its attributes, chain moves and what each part
-- cost. route, task, tenant and feature are the same on every attempt of a request; the primary
-- model and provider are those of its first attempt.
SELECT
    request_id,
    any(llm_attempts.route)                     AS r_route,
    any(llm_attempts.task)                      AS r_task,
    any(llm_attempts.tenant)                    AS r_tenant,
    any(llm_attempts.feature)                   AS r_feature,
    argMin(llm_attempts.model, attempt)         AS r_model,
    argMin(llm_attempts.provider, attempt)      AS r_provider,
    min(llm_attempts.ts)                        AS started,
    count()                                     AS n_attempts,
    countIf(decision = 'fallback')              AS n_fallbacks,
    countIf(decision = 'retry')                 AS n_retries,
    countIf(outcome = 'success') > 0            AS answered,
    countIf(billable AND outcome != 'skipped')  AS n_billable,
    sum(cost_usd)                               AS total_cost,
    argMin(cost_usd, attempt)                   AS first_cost,
    sumIf(cost_usd, decision = 'fallback')      AS fallback_cost,
    sumIf(cost_usd, decision = 'retry')         AS retry_cost,
    sumIf(cost_usd, outcome = 'success')        AS answer_cost,
    sum(llm_attempts.duration_ms)               AS total_ms
FROM llm_attempts
WHERE __REQUEST_SCOPE__
GROUP BY request_id
HAVING __PRIMARY_SCOPE__
