-- One request's attempts in order (the request explorer); the bloom filter index on request_id
-- keeps this a point lookup on a large ledger.
SELECT
    ts, attempt, decision, route, task, tenant, feature, model, provider, outcome, failure_class,
    http_status, finish_reason, reason, stream, input_tokens, output_tokens, cost_usd, duration_ms, ttft_ms
FROM llm_attempts
WHERE request_id = {request_id:String}
ORDER BY attempt, ts
