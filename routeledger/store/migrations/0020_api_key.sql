-- The API key's configured name (never the key itself: routeledger.api_key) on every attempt, so
-- spend and budgets can be shown per key as well as per tenant. Rows stored before this migration
-- read as '' (no key), as do attempts of a router running without authentication.
ALTER TABLE llm_attempts ADD COLUMN IF NOT EXISTS api_key LowCardinality(String) DEFAULT '' AFTER service;

-- The view that fills llm_attempts from the OTel Collector's otel_traces table learns the column in
-- place (MODIFY QUERY: no moment without the view, so no span written meanwhile is missed).
ALTER TABLE otel_traces_llm_attempts MODIFY QUERY
SELECT
    toDateTime64(Timestamp, 6, 'UTC')                                     AS ts,
    SpanAttributes['routeledger.request_id']                              AS request_id,
    toUInt8OrZero(SpanAttributes['routeledger.attempt'])                  AS attempt,
    lower(TraceId)                                                        AS trace_id,
    lower(SpanId)                                                         AS span_id,
    SpanAttributes['routeledger.decision']                                AS decision,
    SpanAttributes['routeledger.route']                                   AS route,
    SpanAttributes['routeledger.task']                                    AS task,
    SpanAttributes['routeledger.tenant']                                  AS tenant,
    SpanAttributes['routeledger.feature']                                 AS feature,
    SpanAttributes['routeledger.traffic_class']                           AS traffic_class,
    SpanAttributes['routeledger.model']                                   AS model,
    SpanAttributes['routeledger.provider']                                AS provider,
    SpanAttributes['gen_ai.provider.name']                                AS provider_name,
    SpanAttributes['gen_ai.request.model']                                AS request_model,
    SpanAttributes['gen_ai.response.model']                               AS response_model,
    SpanAttributes['server.address']                                      AS server_address,
    SpanAttributes['routeledger.outcome']                                 AS outcome,
    SpanAttributes['routeledger.failure_class']                           AS failure_class,
    SpanAttributes['error.type']                                          AS error_type,
    toUInt16OrZero(SpanAttributes['http.response.status_code'])           AS http_status,
    if(startsWith(SpanAttributes['gen_ai.response.finish_reasons'], '['),
       JSONExtractString(SpanAttributes['gen_ai.response.finish_reasons'], 1),
       SpanAttributes['gen_ai.response.finish_reasons'])                  AS finish_reason,
    SpanAttributes['routeledger.billable'] = 'true'                       AS billable,
    SpanAttributes['routeledger.reason']                                  AS reason,
    SpanAttributes['routeledger.stream'] = 'true'                         AS stream,
    toUInt32OrZero(SpanAttributes['gen_ai.usage.input_tokens'])           AS input_tokens,
    toUInt32OrZero(SpanAttributes['gen_ai.usage.output_tokens'])          AS output_tokens,
    toUInt32OrZero(SpanAttributes['gen_ai.usage.cache_read.input_tokens']) AS cache_read_tokens,
    toDecimal64OrZero(SpanAttributes['routeledger.cost_usd'], 9)          AS cost_usd,
    SpanAttributes['routeledger.price_source']                            AS price_source,
    Duration / 1e6                                                        AS duration_ms,
    toFloat64OrNull(SpanAttributes['routeledger.ttft_ms'])                AS ttft_ms,
    ServiceName                                                           AS service,
    SpanAttributes['routeledger.api_key']                                 AS api_key
FROM otel_traces
WHERE mapContains(SpanAttributes, 'routeledger.attempt')
