-- The UTC days with rows in the window (one Parquet partition each).
SELECT toDate(llm_attempts.ts) AS day, count() AS rows
FROM llm_attempts
WHERE __SCOPE__
GROUP BY day
ORDER BY day
