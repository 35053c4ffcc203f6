-- Attempt spans landing in `otel_traces` (written by the OTel Collector's ClickHouse exporter) become
-- typed `llm_attempts` rows. A span is an attempt when it carries routeledger.attempt (the same rule
-- as collector/rows.py; names from routeledger/semconv.py, a test checks they agree).
-- Inserts into otel_traces carry insert_deduplication_token and
-- deduplicate_blocks_in_dependent_materialized_views=1, so a retried block is dropped here as well
-- as in the source table (llm_attempts has its own deduplication window).
CREATE MATERIALIZED VIEW IF NOT EXISTS otel_traces_llm_attempts TO llm_attempts AS
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
    ServiceName                                                           AS service
FROM otel_traces
WHERE mapContains(SpanAttributes, 'routeledger.attempt')
