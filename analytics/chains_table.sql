-- The attempts of requests not answered by their first attempt (put in for the chains marker):
-- the `llm_chain_attempts` copy (migration 0012), keyed by a 64-bit hash of the request id.
SELECT ts, rkey, request_id, attempt, decision, route, task, tenant, feature, model, provider, outcome, failure_class, billable, cost_usd
FROM llm_chain_attempts
