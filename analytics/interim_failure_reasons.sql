-- Why attempts failed: failure class by model, with what the failed attempts cost.
SELECT
    llm_attempts.failure_class   AS failure_class,
    llm_attempts.model           AS model,
    count()                      AS attempts,
    sum(llm_attempts.cost_usd)   AS cost_usd,
    any(llm_attempts.reason)     AS example_reason
FROM llm_attempts
WHERE __SCOPE__ AND llm_attempts.outcome = 'failure'
GROUP BY failure_class, model
ORDER BY attempts DESC, failure_class, model
