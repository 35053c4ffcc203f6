-- Requests that paid for more than one billable attempt: what they cost, the part beyond the
-- answer that was delivered, and why (the chain, attempt by attempt).
-- Two passes over the attempts of multi-attempt requests (the chain copy, chains_*.sql: a request
-- answered by its first attempt has one row, so it cannot be charged twice): find the top requests
-- by extra cost with light aggregates, then build the `why` of only those (the copy is sorted by
-- request hash, so the second pass reads a few granules).
WITH top AS
(
    SELECT
        llm_attempts.rkey                                                           AS rkey,
        any(llm_attempts.request_id)                                                AS request_id,
        countIf(llm_attempts.billable AND llm_attempts.outcome != 'skipped')        AS billable_attempts,
        sumIf(llm_attempts.cost_usd, llm_attempts.billable AND llm_attempts.outcome != 'success') AS extra_cost_usd,
        min(llm_attempts.ts)                                                        AS started
    FROM (__CHAINS__) AS llm_attempts
    WHERE __SCOPE__
    GROUP BY rkey
    HAVING billable_attempts > 1
    ORDER BY extra_cost_usd DESC, started, rkey
    LIMIT {limit:UInt32}
)
SELECT
    any(llm_attempts.request_id)                   AS request_id,
    min(llm_attempts.ts)                           AS started,
    any(llm_attempts.route)                        AS route,
    any(llm_attempts.tenant)                       AS tenant,
    countIf(llm_attempts.billable AND llm_attempts.outcome != 'skipped') AS billable_attempts,
    count()                                        AS attempts,
    countIf(llm_attempts.outcome = 'success') > 0  AS answered,
    sum(llm_attempts.cost_usd)                     AS cost_usd,
    sumIf(llm_attempts.cost_usd, llm_attempts.billable AND llm_attempts.outcome != 'success') AS extra_cost_usd,
    arrayStringConcat(
        arrayMap(
            a -> concat('#', toString(a.1), ' ', a.2, ' ', a.3, ' ', a.4,
                        if(a.5 = '', '', concat(' (', a.5, ')'))),
            arraySort(groupArray((llm_attempts.attempt, llm_attempts.decision, llm_attempts.model,
                                  llm_attempts.outcome, llm_attempts.failure_class)))),
        ' → ')                                     AS why
FROM (__CHAINS__) AS llm_attempts
WHERE __SCOPE__
  AND llm_attempts.rkey IN (SELECT rkey FROM top)
GROUP BY llm_attempts.rkey
ORDER BY extra_cost_usd DESC, started, request_id
