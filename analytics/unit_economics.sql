-- Cost per successful answer by task or feature (the key chosen from a closed set, bound as a
-- string); prices, margin and the buffer check are joined in Python from the config.
WITH per_request AS (__REQUEST_FACTS__)
SELECT
    __KEY__                                     AS name,
    sum(w)                                      AS requests,
    sumIf(w, answered)                          AS answers,
    sum(total_cost)                             AS cost_usd,
    if(answers = 0, NULL, sum(total_cost) / greatest(answers, 1)) AS cost_per_answer_usd
FROM per_request
GROUP BY name
ORDER BY cost_usd DESC, name
