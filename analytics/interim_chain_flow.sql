-- The chain as a flow: each attempt is a node "decision: model"; a link goes from an attempt to
-- the next one of the same request, and from a request's last attempt to "answered" or "failed".
-- Counts are requests along the link; cost is what the source attempts cost.
-- Only requests with more than one attempt need their attempts in order; single-attempt requests
-- are counted straight from their rows, which keeps the scan cheap on a large ledger.
WITH multi AS
(
    SELECT request_id FROM llm_attempts WHERE __SCOPE__ AND llm_attempts.attempt > 1
),
steps AS
(
    SELECT arraySort(x -> x.1, groupArray((attempt, concat(decision, ': ', model), outcome, cost_usd))) AS s
    FROM llm_attempts
    WHERE __SCOPE__ AND request_id IN (SELECT request_id FROM multi)
    GROUP BY request_id
),
links AS
(
    SELECT
        (s[i]).2 AS source,
        if(i < length(s), (s[i + 1]).2, if((s[i]).3 = 'success', 'answered', 'failed')) AS target,
        (s[i]).4 AS cost
    FROM steps
    ARRAY JOIN arrayEnumerate(s) AS i
    UNION ALL
    SELECT concat(decision, ': ', model), if(outcome = 'success', 'answered', 'failed'), cost_usd
    FROM llm_attempts
    WHERE __SCOPE__ AND llm_attempts.attempt = 1
      -- an answered first attempt ends its request; only the others need the set lookup
      AND (llm_attempts.outcome = 'success' OR request_id NOT IN (SELECT request_id FROM multi))
)
SELECT source, target, count() AS requests, sum(cost) AS cost_usd
FROM links
GROUP BY source, target
ORDER BY requests DESC, source, target
