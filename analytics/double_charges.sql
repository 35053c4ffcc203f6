-- Requests that paid for more than one billable attempt: what they cost, the part beyond the
-- answer that was delivered, and why (the chain, attempt by attempt).
SELECT
    request_id,
    min(llm_attempts.ts)                           AS started,
    any(llm_attempts.route)                        AS route,
    any(llm_attempts.tenant)                       AS tenant,
    countIf(billable AND outcome != 'skipped')     AS billable_attempts,
    count()                                        AS attempts,
    countIf(outcome = 'success') > 0               AS answered,
    sum(llm_attempts.cost_usd)                     AS cost_usd,
    sumIf(llm_attempts.cost_usd, billable AND outcome != 'success') AS extra_cost_usd,
    arrayStringConcat(
        arrayMap(
            a -> concat('#', toString(a.1), ' ', a.2, ' ', a.3, ' ', a.4,
                        if(a.5 = '', '', concat(' (', a.5, ')'))),
            arraySort(groupArray((attempt, decision, llm_attempts.model, outcome, failure_class)))),
        ' → ')                                     AS why
FROM llm_attempts
WHERE __SCOPE__
GROUP BY request_id
HAVING billable_attempts > 1
ORDER BY extra_cost_usd DESC, started, request_id
LIMIT {limit:UInt32}
