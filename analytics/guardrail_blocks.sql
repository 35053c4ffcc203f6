-- Requests the spend guardrails refused, by reason (issue 4): each refusal is one `skipped`
-- attempt row whose error_type is the guardrail's code (budget_exhausted, budget_restricted,
-- rate_limited, ceiling_exceeded, budget_unavailable). The block rate is over every request of the
-- group (a request is counted once, by its first attempt).
SELECT
    route, task, tenant, feature, model, provider,
    b.reason                             AS reason,
    b.blocked                            AS blocked,
    r.requests                           AS requests,
    round(b.blocked / r.requests, 6)     AS block_rate
FROM
(
    SELECT
        if({by_route:Bool}, route, '')       AS route,
        if({by_task:Bool}, task, '')         AS task,
        if({by_tenant:Bool}, tenant, '')     AS tenant,
        if({by_feature:Bool}, feature, '')   AS feature,
        if({by_model:Bool}, model, '')       AS model,
        if({by_provider:Bool}, provider, '') AS provider,
        llm_attempts.error_type              AS reason,
        count()                              AS blocked
    FROM llm_attempts
    WHERE __SCOPE__ AND llm_attempts.outcome = 'skipped'
    GROUP BY route, task, tenant, feature, model, provider, reason
) AS b
INNER JOIN
(
    SELECT
        if({by_route:Bool}, route, '')       AS route,
        if({by_task:Bool}, task, '')         AS task,
        if({by_tenant:Bool}, tenant, '')     AS tenant,
        if({by_feature:Bool}, feature, '')   AS feature,
        if({by_model:Bool}, model, '')       AS model,
        if({by_provider:Bool}, provider, '') AS provider,
        countIf(llm_attempts.attempt = 1)    AS requests
    FROM llm_attempts
    WHERE __SCOPE__
    GROUP BY route, task, tenant, feature, model, provider
) AS r USING (route, task, tenant, feature, model, provider)
ORDER BY blocked DESC, reason, route, task, tenant, feature, model, provider
