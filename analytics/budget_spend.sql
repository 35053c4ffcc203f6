-- Spend per tenant (or feature, or route) today, this ISO week and this month (UTC), with the
-- grouping column put in from a closed set (__KEY__) and the period starts bound by the caller so "today" is the caller's clock, not the server's.
SELECT
    __KEY__                                                                             AS name,
    sumIf(llm_attempts.cost_usd, llm_attempts.ts >= {day_start:DateTime64(6, 'UTC')})   AS today_usd,
    sumIf(llm_attempts.cost_usd, llm_attempts.ts >= {week_start:DateTime64(6, 'UTC')})  AS week_usd,
    sumIf(llm_attempts.cost_usd, llm_attempts.ts >= {month_start:DateTime64(6, 'UTC')}) AS month_usd,
    countIf(llm_attempts.attempt = 1 AND llm_attempts.ts >= {day_start:DateTime64(6, 'UTC')}) AS today_requests
FROM llm_attempts
WHERE __SCOPE__
GROUP BY name
ORDER BY month_usd DESC, name
