-- The attempts of requests not answered by their first attempt (put in for the chains marker),
-- filtered from `llm_attempts` itself: what a store without the copy of migration 0012 reads.
SELECT ts, cityHash64(request_id) AS rkey, request_id, attempt, decision, route, task, tenant, feature, model, provider,
       outcome, failure_class, billable, cost_usd
FROM llm_attempts
WHERE NOT (attempt = 1 AND outcome = 'success')
