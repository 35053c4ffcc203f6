-- The chain as a flow: each attempt is a node "decision: model"; a link goes from an attempt to
-- the next one of the same request, and from a request's last attempt to "answered" or "failed".
-- Counts are requests along the link; cost is what the source attempts cost.
-- Cheap on a large ledger: every first attempt is first counted as if it ended its request (one
-- grouped pass, labels built after grouping); only requests with a later attempt (~15%) have their
-- attempts put in order, adding their real links and taking back their first attempt's "ended
-- here" link (the row i = 0 below, with sign -1). Requests are keyed by a 64-bit hash of their id.
WITH chains AS
(
    SELECT arraySort(x -> x.1, groupArray((attempt, decision, model, outcome, cost_usd))) AS s
    FROM llm_attempts
    WHERE __SCOPE__
      AND cityHash64(request_id) IN
          (SELECT cityHash64(request_id) FROM llm_attempts WHERE __SCOPE__ AND llm_attempts.attempt > 1)
    GROUP BY cityHash64(request_id)
),
links AS
(
    SELECT
        concat((s[greatest(i, 1)]).2, ': ', (s[greatest(i, 1)]).3)   AS source,
        if(i > 0 AND i < length(s), concat((s[i + 1]).2, ': ', (s[i + 1]).3),
           if((s[greatest(i, 1)]).4 = 'success', 'answered', 'failed')) AS target,
        sum(if(i = 0, -1, 1))                                         AS requests,
        sum(if(i = 0, -(s[1]).5, (s[greatest(i, 1)]).5))              AS cost_usd
    FROM chains
    ARRAY JOIN arrayConcat([0], arrayEnumerate(s)) AS i
    GROUP BY source, target
    UNION ALL
    SELECT
        concat(decision, ': ', model),
        if(outcome = 'success', 'answered', 'failed'),
        toInt64(count()),
        sum(llm_attempts.cost_usd)
    FROM llm_attempts
    WHERE __SCOPE__ AND llm_attempts.attempt = 1
    GROUP BY decision, model, outcome
)
SELECT source, target, sum(requests) AS requests, sum(cost_usd) AS cost_usd
FROM links
GROUP BY source, target
HAVING requests > 0
ORDER BY requests DESC, source, target
