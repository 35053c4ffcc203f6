-- Which of the tables migrations 0011 and 0012 add exist: a reader of a ledger written by an older
-- version (no writer has migrated it yet) reads attempts only, as before.
SELECT count() AS present
FROM system.tables
WHERE database = currentDatabase()
  AND name IN ('llm_rollup_hour', 'llm_rollup_day', 'llm_chain_attempts')
