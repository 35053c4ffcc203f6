-- Spend since the start of today, this ISO week and this month (UTC), in one scan, overall or per
-- tenant: what budgets are measured against. Every billable attempt counts, failed ones included.
SELECT
    if({by_tenant:Bool}, tenant, '')              AS tenant,
    sumIf(cost_usd, ts >= {day_start:DateTime64(6, 'UTC')})   AS today_usd,
    sumIf(cost_usd, ts >= {week_start:DateTime64(6, 'UTC')})  AS week_usd,
    sumIf(cost_usd, ts >= {month_start:DateTime64(6, 'UTC')}) AS month_usd
FROM llm_attempts
WHERE ts >= least({week_start:DateTime64(6, 'UTC')}, {month_start:DateTime64(6, 'UTC')})
      AND ts < {until:DateTime64(6, 'UTC')}
      AND (empty({routes:Array(String)}) OR has({routes:Array(String)}, llm_attempts.route))
      AND (empty({tasks:Array(String)}) OR has({tasks:Array(String)}, llm_attempts.task))
      AND (empty({tenants:Array(String)}) OR has({tenants:Array(String)}, llm_attempts.tenant))
      AND (empty({features:Array(String)}) OR has({features:Array(String)}, llm_attempts.feature))
      AND (empty({models:Array(String)}) OR has({models:Array(String)}, llm_attempts.model))
      AND (empty({providers:Array(String)}) OR has({providers:Array(String)}, llm_attempts.provider))
GROUP BY tenant
ORDER BY month_usd DESC, tenant
