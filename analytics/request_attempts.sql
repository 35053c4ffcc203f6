-- The request explorer: one request's attempts, in order.
SELECT
    llm_attempts.attempt       AS attempt,
    llm_attempts.ts            AS ts,
    llm_attempts.route         AS route,
    llm_attempts.tenant        AS tenant,
    llm_attempts.decision      AS decision,
    llm_attempts.model         AS model,
    llm_attempts.provider      AS provider,
    llm_attempts.outcome       AS outcome,
    llm_attempts.failure_class AS failure_class,
    llm_attempts.http_status   AS http_status,
    llm_attempts.finish_reason AS finish_reason,
    llm_attempts.billable      AS billable,
    llm_attempts.input_tokens  AS input_tokens,
    llm_attempts.output_tokens AS output_tokens,
    llm_attempts.cost_usd      AS cost_usd,
    llm_attempts.duration_ms   AS duration_ms,
    llm_attempts.ttft_ms       AS ttft_ms,
    llm_attempts.reason        AS reason
FROM llm_attempts
WHERE llm_attempts.request_id = {request_id:String} AND __SCOPE__
ORDER BY attempt, ts
