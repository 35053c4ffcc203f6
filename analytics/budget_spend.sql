-- Spend per tenant (or feature, or route) today, this ISO week and this month (UTC), with the
-- grouping column put in from a closed set (__KEY__) and the period starts bound by the caller so
-- "today" is the caller's clock, not the server's. From the attempt facts (the period starts are
-- whole days, so the rollup's periods never straddle them).
SELECT
    __KEY__                                                                     AS name,
    sumIf(facts.cost_usd, facts.ts >= {day_start:DateTime64(6, 'UTC')})        AS today_usd,
    sumIf(facts.cost_usd, facts.ts >= {week_start:DateTime64(6, 'UTC')})       AS week_usd,
    sumIf(facts.cost_usd, facts.ts >= {month_start:DateTime64(6, 'UTC')})      AS month_usd,
    sumIf(facts.n, facts.first = 1 AND facts.ts >= {day_start:DateTime64(6, 'UTC')}) AS today_requests
FROM (__FACTS__) AS facts
GROUP BY name
ORDER BY month_usd DESC, name
