-- The chain as a flow: each attempt is a node "decision: model"; a link goes from an attempt to
-- the next one of the same request, and from a request's last attempt to "answered" or "failed".
-- Counts are requests along the link; cost is what the source attempts cost.
-- Cheap on a large ledger: every first attempt is first counted as if it ended its request (from
-- the attempt facts: rollup periods + the window's edges); only requests with a later attempt
-- (~15%, from the chain copy: a request with a second attempt has all its attempts there) have
-- their attempts put in order, adding their real links and taking back their first attempt's
-- "ended here" link (the row i = 0 below, with sign -1). Requests are keyed by a 64-bit hash of
-- their id.
WITH chains AS
(
    SELECT arraySort(x -> x.1, groupArray((llm_attempts.attempt, llm_attempts.decision, llm_attempts.model,
                                           llm_attempts.outcome, llm_attempts.cost_usd))) AS s
    FROM (__CHAINS__) AS llm_attempts
    WHERE __SCOPE__
      AND llm_attempts.rkey IN
          (SELECT llm_attempts.rkey FROM (__CHAINS__) AS llm_attempts WHERE __SCOPE__ AND llm_attempts.attempt > 1)
    GROUP BY llm_attempts.rkey
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
        concat(facts.decision, ': ', facts.model),
        if(facts.outcome = 'success', 'answered', 'failed'),
        toInt64(sum(facts.n)),
        sum(facts.cost_usd)
    FROM (__FACTS__) AS facts
    WHERE facts.first = 1
    GROUP BY facts.decision, facts.model, facts.outcome
)
SELECT source, target, sum(requests) AS requests, sum(cost_usd) AS cost_usd
FROM links
GROUP BY source, target
HAVING requests > 0
ORDER BY requests DESC, source, target
