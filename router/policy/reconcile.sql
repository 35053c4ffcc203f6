-- What the ledger recorded for attempts whose budget reservations were never settled (a router
-- that died mid-request): their real cost settles the reservation.
SELECT request_id, attempt, sum(cost_usd) AS cost_usd
FROM llm_attempts
WHERE request_id IN {request_ids:Array(String)}
GROUP BY request_id, attempt
