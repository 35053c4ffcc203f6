-- The chain as a flow: each attempt is a node "decision: model"; a link goes from an attempt to
-- the next one of the same request, and from a request's last attempt to "answered" or "failed".
-- Counts are requests along the link; cost is what the source attempts cost.
-- Only requests with more than one attempt need their attempts in order; single-attempt requests
-- are counted straight from their rows, which keeps the scan cheap on a large ledger.
WITH multi AS
(
    SELECT request_id
    FROM llm_attempts
    WHERE ts >= {since:DateTime64(6, 'UTC')} AND ts < {until:DateTime64(6, 'UTC')} AND attempt > 1
      AND (empty({routes:Array(String)}) OR has({routes:Array(String)}, llm_attempts.route))
      AND (empty({tasks:Array(String)}) OR has({tasks:Array(String)}, llm_attempts.task))
      AND (empty({tenants:Array(String)}) OR has({tenants:Array(String)}, llm_attempts.tenant))
      AND (empty({features:Array(String)}) OR has({features:Array(String)}, llm_attempts.feature))
      AND (empty({models:Array(String)}) OR has({models:Array(String)}, llm_attempts.model))
      AND (empty({providers:Array(String)}) OR has({providers:Array(String)}, llm_attempts.provider))
),
steps AS
(
    SELECT arraySort(x -> x.1, groupArray((attempt, concat(decision, ': ', model), outcome, cost_usd))) AS s
    FROM llm_attempts
    WHERE ts >= {since:DateTime64(6, 'UTC')} AND ts < {until:DateTime64(6, 'UTC')}
      AND request_id IN (SELECT request_id FROM multi)
      AND (empty({routes:Array(String)}) OR has({routes:Array(String)}, llm_attempts.route))
      AND (empty({tasks:Array(String)}) OR has({tasks:Array(String)}, llm_attempts.task))
      AND (empty({tenants:Array(String)}) OR has({tenants:Array(String)}, llm_attempts.tenant))
      AND (empty({features:Array(String)}) OR has({features:Array(String)}, llm_attempts.feature))
      AND (empty({models:Array(String)}) OR has({models:Array(String)}, llm_attempts.model))
      AND (empty({providers:Array(String)}) OR has({providers:Array(String)}, llm_attempts.provider))
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
    WHERE ts >= {since:DateTime64(6, 'UTC')} AND ts < {until:DateTime64(6, 'UTC')}
      AND attempt = 1 AND request_id NOT IN (SELECT request_id FROM multi)
      AND (empty({routes:Array(String)}) OR has({routes:Array(String)}, llm_attempts.route))
      AND (empty({tasks:Array(String)}) OR has({tasks:Array(String)}, llm_attempts.task))
      AND (empty({tenants:Array(String)}) OR has({tenants:Array(String)}, llm_attempts.tenant))
      AND (empty({features:Array(String)}) OR has({features:Array(String)}, llm_attempts.feature))
      AND (empty({models:Array(String)}) OR has({models:Array(String)}, llm_attempts.model))
      AND (empty({providers:Array(String)}) OR has({providers:Array(String)}, llm_attempts.provider))
)
SELECT source, target, count() AS requests, sum(cost) AS cost_usd
FROM links
GROUP BY source, target
ORDER BY requests DESC, source, target
