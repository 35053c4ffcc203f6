-- Every column of the rows of one day (the window is that day), in the table's sort order.
SELECT *
FROM llm_attempts
WHERE __SCOPE__
ORDER BY llm_attempts.ts, llm_attempts.request_id, llm_attempts.attempt
