-- The chain as a flow: each attempt is a node "decision: model"; a link goes from an attempt to
-- the next one of the same request, and from a request's last attempt to "answered" or "failed".
-- Counts are requests along the link; cost is what the source attempts cost.
-- Cheap on a large ledger: every first attempt is first counted as if it ended its request (from
-- the attempt facts: rollup periods + the window's edges); only requests with a later attempt in
-- scope (~15%, from the chain copy: a request with a second attempt has all its attempts there)
-- have their attempts put in order, adding their real links and taking back their first attempt's
-- "ended here" link (i = 0 below, with sign -1). Requests are keyed by a 64-bit hash of their id,
-- and grouped by their path before the links are spelled out: a few dozen paths, not every request.
--
-- A path holds each attempt's node as a 64-bit hash of (decision, model, outcome), not the strings:
-- arrays of numbers are what make grouping ~1M requests and their paths cheap (arrays of string
-- tuples cost twice the CPU at 10M attempts). `paths` is one scalar, computed once, with an example
-- request per path; `nodes` turns a hash back into its label from those examples' attempts alone,
-- found by the copy's sorting key (rkey): a few granules, and every node of every path is there.
WITH
    (
        SELECT groupArray((path, n, costs, example))
        FROM
        (
            SELECT path, count() AS n, sumForEach(costs) AS costs, any(rkey) AS example
            FROM
            (
                SELECT
                    llm_attempts.rkey                                                                 AS rkey,
                    groupArray(llm_attempts.attempt)                                                  AS attempts,
                    arraySort((x, a) -> a, groupArray(cityHash64(llm_attempts.decision, llm_attempts.model,
                                                                 llm_attempts.outcome)), attempts)    AS path,
                    arraySort((x, a) -> a, groupArray(llm_attempts.cost_usd), attempts)               AS costs
                FROM (__CHAINS__) AS llm_attempts
                WHERE __SCOPE__
                GROUP BY llm_attempts.rkey
                HAVING arrayMax(attempts) > 1
            )
            GROUP BY path
        )
    ) AS paths,
    (
        SELECT (groupArray(node), groupArray(label), groupArray(answered))
        FROM
        (
            SELECT
                cityHash64(llm_attempts.decision, llm_attempts.model, llm_attempts.outcome) AS node,
                concat(llm_attempts.decision, ': ', llm_attempts.model)                   AS label,
                llm_attempts.outcome = 'success'                                          AS answered
            FROM (__CHAINS__) AS llm_attempts
            WHERE __SCOPE__ AND llm_attempts.rkey IN (SELECT (arrayJoin(paths)).4)
            GROUP BY llm_attempts.decision, llm_attempts.model, llm_attempts.outcome
        )
    ) AS nodes,
steps AS
(
    -- i = 0: the first attempt's "ended here" link taken back; i = length(path): the last one ends.
    SELECT
        p.1[greatest(i, 1)]                                 AS from_node,
        i = 0 OR i = length(p.1)                            AS ends,
        if(ends, 0, p.1[i + 1])                             AS to_node,
        sum(if(i = 0, -toInt64(p.2), toInt64(p.2)))         AS requests,
        sum(if(i = 0, -p.3[1], p.3[greatest(i, 1)]))        AS cost_usd
    FROM (SELECT arrayJoin(paths) AS p)
    ARRAY JOIN arrayConcat([0], arrayEnumerate(p.1)) AS i
    GROUP BY from_node, ends, to_node
),
links AS
(
    SELECT
        (nodes.2)[indexOf(nodes.1, from_node)]                                  AS source,
        if(ends, if((nodes.3)[indexOf(nodes.1, from_node)], 'answered', 'failed'),
           (nodes.2)[indexOf(nodes.1, to_node)])                                AS target,
        requests,
        cost_usd
    FROM steps
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
