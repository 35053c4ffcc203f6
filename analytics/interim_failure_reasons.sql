-- Why attempts failed: failure class by model, with what the failed attempts cost and an example.
-- Every failed attempt is in the chain copy (it holds every attempt but a first one that answered),
-- so counts and costs read its ~25% of the rows instead of every attempt of the window. The copy
-- holds no reason text: each group's example is the reason of its earliest failed attempt, looked
-- up in llm_attempts by its sorting key (route, model, ts), which reads a few granules.
-- `found` is one scalar, computed once, so the chain copy is read once for both uses.
WITH
    (
        SELECT groupArray((failure_class, model, attempts, cost_usd, example_route, example_ts))
        FROM
        (
            SELECT
                llm_attempts.failure_class                  AS failure_class,
                llm_attempts.model                          AS model,
                count()                                     AS attempts,
                sum(llm_attempts.cost_usd)                  AS cost_usd,
                argMin(llm_attempts.route, llm_attempts.ts) AS example_route,
                min(llm_attempts.ts)                        AS example_ts
            FROM (__CHAINS__) AS llm_attempts
            WHERE __SCOPE__ AND llm_attempts.outcome = 'failure'
            GROUP BY failure_class, model
        )
    ) AS found,
groups AS
(
    SELECT g.1 AS failure_class, g.2 AS model, g.3 AS attempts, g.4 AS cost_usd, g.5 AS example_route, g.6 AS example_ts
    FROM (SELECT arrayJoin(found) AS g)
),
examples AS
(
    SELECT
        llm_attempts.failure_class  AS failure_class,
        llm_attempts.model          AS model,
        llm_attempts.route          AS route,
        llm_attempts.ts             AS ts,
        any(llm_attempts.reason)    AS reason
    FROM llm_attempts
    WHERE (llm_attempts.route, llm_attempts.model, llm_attempts.ts) IN (SELECT example_route, model, example_ts FROM groups)
      AND __SCOPE__ AND llm_attempts.outcome = 'failure'
    GROUP BY failure_class, model, route, ts
)
SELECT
    groups.failure_class    AS failure_class,
    groups.model            AS model,
    groups.attempts         AS attempts,
    groups.cost_usd         AS cost_usd,
    examples.reason         AS example_reason
FROM groups
LEFT JOIN examples
    ON examples.failure_class = groups.failure_class AND examples.model = groups.model
   AND examples.route = groups.example_route AND examples.ts = groups.example_ts
ORDER BY attempts DESC, failure_class, model
