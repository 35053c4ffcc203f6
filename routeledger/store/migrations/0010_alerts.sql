-- Every alert firing, re-notification and resolution (analytics/alerts.py). The latest row per
-- alert_key is the alert's state, so deduplication and cooldown survive restarts and are shared
-- by the CLI and the service's scheduler.
CREATE TABLE IF NOT EXISTS alerts
(
    ts            DateTime64(3, 'UTC'),
    rule          LowCardinality(String),
    alert_key     String,
    status        LowCardinality(String),
    metric        LowCardinality(String),
    scope         LowCardinality(String),
    name          String,
    value         Float64,
    threshold     Float64,
    requests      UInt64,
    window_start  DateTime64(3, 'UTC'),
    window_end    DateTime64(3, 'UTC'),
    message       String,
    evidence      String,
    notified      Bool,
    delivery      String
)
ENGINE = MergeTree
ORDER BY (rule, alert_key, ts)
