-- The chain as a flow: each attempt is a node "decision: model"; a link goes from an attempt to
-- the next one of the same request, and from a request's last attempt to "answered" or "failed".
-- Counts are requests along the link; cost is what the source attempts cost.
-- Cheap on a large ledger: every first attempt is first counted as if it ended its request (from
-- the attempt facts: rollup periods + the window's edges); only requests with a later attempt
-- (~15%, from the chain copy: a request with a second attempt has all its attempts there) have
-- their attempts put in order, adding their real links and taking back their first attempt's
-- "ended here" link (the row i = 0 below, with sign -1). Requests are keyed by a 64-bit hash of
-- their id, and grouped by their path (the attempts' decision, model, outcome) before the links are
-- spelled out: a few dozen paths instead of every request (~30% less work at 10M rows).
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
paths AS
(
    SELECT arrayMap(x -> (x.2, x.3, x.4), s) AS path, count() AS n, sumForEach(arrayMap(x -> x.5, s)) AS costs
    FROM chains
    GROUP BY path
),
links AS
(
    SELECT
        concat((path[greatest(i, 1)]).1, ': ', (path[greatest(i, 1)]).2)   AS source,
        if(i > 0 AND i < length(path), concat((path[i + 1]).1, ': ', (path[i + 1]).2),
           if((path[greatest(i, 1)]).3 = 'success', 'answered', 'failed')) AS target,
        sum(if(i = 0, -toInt64(n), toInt64(n)))                            AS requests,
        sum(if(i = 0, -costs[1], costs[greatest(i, 1)]))                   AS cost_usd
    FROM paths
    ARRAY JOIN arrayConcat([0], arrayEnumerate(path)) AS i
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
