-- The state of every alert of the given rules: its latest status and when it last notified.
SELECT
    rule,
    alert_key,
    argMax(status, ts)                AS status,
    argMax(metric, ts)                AS metric,
    argMax(scope, ts)                 AS scope,
    argMax(name, ts)                  AS name,
    max(ts)                           AS last_ts,
    maxIf(ts, notified)               AS last_notified
FROM alerts
WHERE has({rules:Array(String)}, rule)
GROUP BY rule, alert_key
