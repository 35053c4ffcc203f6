-- Requests that paid for more than one billable attempt: what they cost, the part beyond the
-- answer that was delivered, and why (the chain, attempt by attempt).
-- Two passes: find the top requests by extra cost with light aggregates over the attempts of
-- multi-attempt requests (the chain copy, chains_*.sql: a request answered by its first attempt has
-- one row, so it cannot be charged twice), then build the `why` of only those from llm_attempts,
-- found by their ids (the bloom filter index skips the rest).
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
  AND NOT (llm_attempts.attempt = 1 AND llm_attempts.outcome = 'success')
  AND llm_attempts.ts >= (SELECT min(started) FROM top)
  AND llm_attempts.request_id IN (SELECT request_id FROM top)
GROUP BY cityHash64(llm_attempts.request_id)
ORDER BY extra_cost_usd DESC, started, request_id
