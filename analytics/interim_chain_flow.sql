-- The chain as a flow: each attempt is a node "decision: model"; a link goes from an attempt to
-- the next one of the same request, and from a request's last attempt to "answered" or "failed".
-- Counts are requests along the link; cost is what the source attempts cost.
-- Only requests with more than one attempt need their attempts in order; single-attempt requests
-- are counted straight from their rows (an answered first attempt ends its request, so only the
-- failed ones need the set lookup), and grouped before any label is built.
WITH multi AS
(
    SELECT request_id FROM llm_attempts WHERE __SCOPE__ AND llm_attempts.attempt > 1
),
chains AS
(
    SELECT arraySort(x -> x.1, groupArray((attempt, decision, model, outcome, cost_usd))) AS s
    FROM llm_attempts
    WHERE __SCOPE__ AND request_id IN (SELECT request_id FROM multi)
    GROUP BY request_id
),
links AS
(
    SELECT
        concat((s[i]).2, ': ', (s[i]).3) AS source,
        if(i < length(s), concat((s[i + 1]).2, ': ', (s[i + 1]).3),
           if((s[i]).4 = 'success', 'answered', 'failed')) AS target,
        count()          AS requests,
        sum((s[i]).5)    AS cost_usd
    FROM chains
    ARRAY JOIN arrayEnumerate(s) AS i
    GROUP BY source, target
    UNION ALL
    SELECT
        concat(decision, ': ', model)                     AS source,
        if(outcome = 'success', 'answered', 'failed')     AS target,
        count()                                           AS requests,
        sum(llm_attempts.cost_usd)                        AS cost_usd
    FROM llm_attempts
    WHERE __SCOPE__ AND llm_attempts.attempt = 1
      AND (llm_attempts.outcome = 'success' OR request_id NOT IN (SELECT request_id FROM multi))
    GROUP BY decision, model, outcome
)
SELECT source, target, sum(requests) AS requests, sum(cost_usd) AS cost_usd
FROM links
GROUP BY source, target
ORDER BY requests DESC, source, target
