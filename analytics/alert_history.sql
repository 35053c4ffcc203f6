-- Alert events, newest first (for the CLI and the dashboard).
SELECT ts, rule, alert_key, status, metric, scope, name, value, threshold, requests, window_start,
       window_end, message, notified, delivery
FROM alerts
WHERE ts >= {since:DateTime64(6, 'UTC')} AND ts < {until:DateTime64(6, 'UTC')}
ORDER BY ts DESC, rule, alert_key
LIMIT {limit:UInt32}
