-- One row per request (put in for __PER_REQUEST__): its attributes, chain moves and what each part
-- cost. route, task, tenant and feature are the same on every attempt of a request; the primary
-- model and provider are those of its first attempt.
--
-- Why two halves: a request answered by its first attempt has exactly one row (success ends the
-- chain), so it needs no grouping; every other request has no (attempt 1, success) row at all.
-- Only those (~10% of requests) are grouped, by a 64-bit hash of their id (fixed-size keys
-- aggregate several times faster than strings; a collision among millions of ids, p ~ n^2/2^65,
-- would only merge two requests' statistics). Exact, and about ten times less work at 10M rows.
-- Money stays Decimal(18, 9) per request (the column's type: up to $999,999,999 a request) so the
-- two halves need no conversion; sums over requests widen to Decimal(38, 9) as usual.
SELECT
    toUInt64(0)                                         AS rkey,
    llm_attempts.route                                  AS r_route,
    llm_attempts.task                                   AS r_task,
    llm_attempts.tenant                                 AS r_tenant,
    llm_attempts.feature                                AS r_feature,
    llm_attempts.model                                  AS r_model,
    llm_attempts.provider                               AS r_provider,
    llm_attempts.ts                                     AS started,
    toUInt64(1)                                         AS n_attempts,
    toUInt64(llm_attempts.decision = 'fallback')        AS n_fallbacks,
    toUInt64(llm_attempts.decision = 'retry')           AS n_retries,
    toUInt8(1)                                          AS answered,
    toUInt64(llm_attempts.billable)                     AS n_billable,
    llm_attempts.cost_usd                               AS total_cost,
    llm_attempts.cost_usd                               AS first_cost,
    llm_attempts.cost_usd * (llm_attempts.decision = 'fallback') AS fallback_cost,
    llm_attempts.cost_usd * (llm_attempts.decision = 'retry')    AS retry_cost,
    llm_attempts.cost_usd                               AS answer_cost,
    llm_attempts.duration_ms                            AS total_ms
FROM llm_attempts
WHERE __REQUEST_SCOPE__
  AND llm_attempts.attempt = 1 AND llm_attempts.outcome = 'success'
  AND __PRIMARY_SCOPE__
UNION ALL
SELECT
    cityHash64(llm_attempts.request_id)                 AS rkey,
    any(llm_attempts.route)                             AS r_route,
    any(llm_attempts.task)                              AS r_task,
    any(llm_attempts.tenant)                            AS r_tenant,
    any(llm_attempts.feature)                           AS r_feature,
    argMin(llm_attempts.model, llm_attempts.attempt)    AS r_model,
    argMin(llm_attempts.provider, llm_attempts.attempt) AS r_provider,
    min(llm_attempts.ts)                                AS started,
    count()                                             AS n_attempts,
    countIf(llm_attempts.decision = 'fallback')         AS n_fallbacks,
    countIf(llm_attempts.decision = 'retry')            AS n_retries,
    toUInt8(countIf(llm_attempts.outcome = 'success') > 0) AS answered,
    countIf(llm_attempts.billable AND llm_attempts.outcome != 'skipped') AS n_billable,
    toDecimal64(sum(llm_attempts.cost_usd), 9)          AS total_cost,
    argMin(llm_attempts.cost_usd, llm_attempts.attempt) AS first_cost,
    toDecimal64(sumIf(llm_attempts.cost_usd, llm_attempts.decision = 'fallback'), 9) AS fallback_cost,
    toDecimal64(sumIf(llm_attempts.cost_usd, llm_attempts.decision = 'retry'), 9)    AS retry_cost,
    toDecimal64(sumIf(llm_attempts.cost_usd, llm_attempts.outcome = 'success'), 9)   AS answer_cost,
    sum(llm_attempts.duration_ms)                       AS total_ms
FROM llm_attempts
WHERE __REQUEST_SCOPE__
  AND NOT (llm_attempts.attempt = 1 AND llm_attempts.outcome = 'success')
GROUP BY rkey
HAVING __PRIMARY_SCOPE__
