-- Share of empty, truncated and over-long answers among attempts that got a response
-- (seed 001: watch the share of empty, cut-off and overly long responses).
SELECT
    if({by_route:Bool}, route, '')       AS route,
    if({by_task:Bool}, task, '')         AS task,
    if({by_tenant:Bool}, tenant, '')     AS tenant,
    if({by_feature:Bool}, feature, '')   AS feature,
    if({by_model:Bool}, model, '')       AS model,
    if({by_provider:Bool}, provider, '') AS provider,
    count()                              AS responses,
    countIf(llm_attempts.failure_class = 'empty_response'
            OR (llm_attempts.outcome = 'success' AND llm_attempts.output_tokens = 0)) AS empty,
    countIf(llm_attempts.failure_class IN ('truncated', 'stream_cut')
            OR llm_attempts.finish_reason IN ('length', 'max_tokens'))               AS truncated,
    countIf(llm_attempts.outcome = 'success'
            AND llm_attempts.output_tokens > {long_tokens:UInt32})                  AS over_long,
    round(empty / responses, 6)          AS empty_share,
    round(truncated / responses, 6)      AS truncated_share,
    round(over_long / responses, 6)      AS over_long_share
FROM llm_attempts
WHERE __SCOPE__ AND llm_attempts.outcome IN ('success', 'failure')
GROUP BY route, task, tenant, feature, model, provider
ORDER BY route, task, tenant, feature, model, provider
