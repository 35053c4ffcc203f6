"""Span attribute names: the contract between the router (writer) and the collector (reader).

Every attribute string exists here once. The router sets these on attempt spans, the collector reads
them back into `llm_attempts` rows; a rename on one side without the other would silently lose a
column, so both import the same constants.

GenAI names follow the OpenTelemetry GenAI semantic conventions (gen_ai.*); our own attributes live
under the `routeledger.` namespace.
"""

from __future__ import annotations

from typing import Final

# --- OpenTelemetry GenAI semantic conventions --------------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
ERROR_TYPE: Final = "error.type"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
HTTP_REQUEST_METHOD: Final = "http.request.method"
HTTP_ROUTE: Final = "http.route"

OPERATION_CHAT: Final = "chat"

# --- routeledger attributes ---------------------------------------------------------------------
REQUEST_ID: Final = "routeledger.request_id"
ATTEMPT: Final = "routeledger.attempt"
DECISION: Final = "routeledger.decision"
ROUTE: Final = "routeledger.route"
TASK: Final = "routeledger.task"
TENANT: Final = "routeledger.tenant"
FEATURE: Final = "routeledger.feature"
TRAFFIC_CLASS: Final = "routeledger.traffic_class"
MODEL: Final = "routeledger.model"
PROVIDER: Final = "routeledger.provider"
COST_USD: Final = "routeledger.cost_usd"
PRICE_SOURCE: Final = "routeledger.price_source"
FAILURE_CLASS: Final = "routeledger.failure_class"
BILLABLE: Final = "routeledger.billable"
OUTCOME: Final = "routeledger.outcome"
STREAM: Final = "routeledger.stream"
TTFT_MS: Final = "routeledger.ttft_ms"
REASON: Final = "routeledger.reason"
ATTEMPTS: Final = "routeledger.attempts"
USAGE_ESTIMATED: Final = "routeledger.usage_estimated"
#: Retries the client's SDK made on its own (the official SDKs send x-stainless-retry-count).
CLIENT_RETRY_COUNT: Final = "routeledger.client_retry_count"
BREAKER_PROBE: Final = "routeledger.breaker_probe"
SKIPPED_MODEL: Final = "routeledger.skipped_model"
SKIP_REASON: Final = "routeledger.skip_reason"

API_KEY: Final = "routeledger.api_key"  # the key's configured name, never the key
DEGRADED: Final = "routeledger.degraded"
GUARDRAIL: Final = "routeledger.guardrail"
GUARDRAIL_REASON: Final = "routeledger.guardrail_reason"

#: Span event on the request span for each model passed over without an attempt.
SKIP_EVENT: Final = "routeledger.model_skipped"
#: Span event on the request span for each guardrail decision (ceiling, downgrade, block, quota).
GUARDRAIL_EVENT: Final = "routeledger.guardrail"

# --- resource attributes ------------------------------------------------------------------------
SERVICE_NAME: Final = "service.name"

#: The attribute whose presence marks a span as an upstream attempt (all others are skipped).
ATTEMPT_MARKER: Final = ATTEMPT
