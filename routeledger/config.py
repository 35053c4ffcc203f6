"""The one configuration file, `routeledger.yaml`, as strict pydantic models.

Why strict: a typo in a gateway config (`max_atempts`) silently falls back to a default and the first
sign of it is an invoice. Unknown keys are refused, cross references (a route's chain naming a model,
a model naming a provider) are checked at load, and every fault comes back as one `ConfigError`
naming the file, the dotted field (`routes.support.chain[1]`) and what is wrong.

Strings may reference the environment as `${NAME}` or `${NAME:-default}`, so one file serves the
demo (ports chosen at run time), docker-compose (service host names) and production. Secrets are
never written in the file: providers name the environment variable that holds their API key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import Field, ValidationError, field_validator

from routeledger.analytics_config import AnalyticsConfig
from routeledger.errors import ConfigError
from routeledger.failures import FailureClass, Step
from routeledger.guardrails import (
    BudgetConfig,
    CeilingConfig,
    FailureMode,
    GuardrailsConfig,
    KeyConfig,
    TrafficClass,
)
from routeledger.pricing import GenaiPricesRef, PriceConfig, UnknownPrice, resolve_price
from routeledger.strict import StrictModel

DEFAULT_CONFIG_PATH = "routeledger.yaml"
CONFIG_ENV = "ROUTELEDGER_CONFIG"
CLICKHOUSE_URL_ENV = "ROUTELEDGER_CLICKHOUSE_URL"

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"


class ProviderKind(StrEnum):
    OPENAI = "openai"
    ANTHROPIC = "anthropic"


class Capability(StrEnum):
    """What a model can serve; a request needing one only goes to models that declare it."""

    JSON_SCHEMA = "json_schema"
    JSON_OBJECT = "json_object"
    TOOLS = "tools"
    VISION = "vision"
    LONG_CONTEXT = "long_context"
    ASSISTANT_PREFILL = "assistant_prefill"
    STREAMING = "streaming"


class ModelTier(StrEnum):
    """How strong a model is; a quality failure falls back to a model at least as strong."""

    BUDGET = "budget"
    STANDARD = "standard"
    PREMIUM = "premium"


TIER_RANK = {ModelTier.BUDGET: 0, ModelTier.STANDARD: 1, ModelTier.PREMIUM: 2}


class BreakerConfig(StrictModel):
    """Circuit breaker per (provider, model): quarantine a failing model instead of hammering it.

    Defaults follow seed 000: a model that keeps returning 429/5xx is quarantined starting at 10
    minutes, growing exponentially on repeated trips (capped), then retested by a single probe.
    """

    enabled: bool = True
    #: Calls are judged over this sliding time window, in seconds.
    window_s: float = Field(default=60.0, gt=0)
    #: No verdict before this many calls in the window (a single failure is not an outage).
    min_calls: int = Field(default=10, ge=1)
    #: Share of failed calls in the window that opens the breaker.
    failure_rate: float = Field(default=0.5, gt=0, le=1)
    #: A call whose time to first token (or whole duration) exceeds this counts as slow.
    slow_call_s: float | None = Field(default=None, gt=0)
    #: Share of slow calls in the window that opens the breaker.
    slow_call_rate: float = Field(default=1.0, gt=0, le=1)
    #: First quarantine, in seconds; each consecutive trip multiplies it, up to `max_open_s`.
    open_s: float = Field(default=600.0, gt=0)
    multiplier: float = Field(default=2.0, ge=1)
    max_open_s: float = Field(default=3600.0, gt=0)
    #: Relative jitter on each quarantine (0.1 = ±10%), so replicas do not probe in lockstep.
    jitter: float = Field(default=0.1, ge=0, lt=1)
    #: After this many healthy windows in a row the trip count steps down by one.
    decay_windows: int = Field(default=3, ge=1)
    #: Probe calls admitted in HALF_OPEN; the rest are skipped until the probes resolve.
    half_open_probes: int = Field(default=1, ge=1)
    #: A probe that takes longer than this fails, so a hung probe cannot freeze the breaker.
    probe_timeout_s: float = Field(default=10.0, gt=0)


class ProviderConfig(StrictModel):
    kind: ProviderKind
    base_url: str
    api_key_env: str | None = None
    #: Value of `gen_ai.provider.name` on spans; defaults to the kind ("openai", "anthropic").
    system: str | None = None
    breaker: BreakerConfig = BreakerConfig()
    #: Requests in flight to this provider at most; beyond it the chain moves on at once.
    max_in_flight: int | None = Field(default=None, ge=1)
    #: Allow an upstream on loopback or a private network (a local simulator, an in-cluster
    #: gateway). Off by default: a config pointing at 169.254.169.254 is an SSRF, not a provider.
    allow_private_network: bool = False

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http(s) URL with a host, got {value!r}")
        return value.rstrip("/")

    @property
    def provider_name(self) -> str:
        return self.system or self.kind.value

    def api_key(self) -> str | None:
        """The key from the environment at call time, so rotation needs no config reload."""
        return os.environ.get(self.api_key_env) if self.api_key_env else None


class ModelConfig(StrictModel):
    provider: str
    upstream: str
    price: PriceConfig
    context_window: int = Field(gt=0)
    max_output_tokens: int = Field(default=4096, gt=0)
    capabilities: frozenset[Capability] = frozenset()
    #: Strength for quality fallbacks; when absent, the output price ranks the models.
    tier: ModelTier | None = None


class TimeoutConfig(StrictModel):
    """Per-phase limits of one request, in seconds."""

    connect_s: float = Field(default=3.0, gt=0)
    #: No response (non-streaming) or no first content token (streaming) within this: the provider is
    #: silent, and the route falls over instead of waiting.
    first_byte_s: float = Field(default=20.0, gt=0)
    #: A stream silent for longer than this between chunks has stalled.
    idle_s: float = Field(default=15.0, gt=0)
    #: The whole request, every attempt and backoff included; nothing outlives it.
    total_s: float = Field(default=60.0, gt=0)


class PolicyConfig(StrictModel):
    """How the route reacts to a failed attempt (defaults from seeds 001-003)."""

    #: Retries of the same model within one request.
    max_retries: int = Field(default=1, ge=0, le=3)
    #: Seed 001: by default never both retry and fall back for one failure.
    retry_and_fallback: bool = False
    #: Full-jitter exponential backoff: retry n waits U[0, min(cap, base·2ⁿ)) seconds.
    backoff_base_s: float = Field(default=0.2, ge=0)
    backoff_cap_s: float = Field(default=2.0, ge=0)
    #: A Retry-After longer than this is not waited for: the route falls over instead.
    max_retry_after_s: float = Field(default=5.0, ge=0)
    #: No attempt starts with less than this left before the deadline.
    min_attempt_s: float = Field(default=0.25, ge=0)
    #: Overrides of the default step per failure class (e.g. rate_limited: fallback).
    steps: dict[FailureClass, Step] = {}
    #: Tell the client in the response body when a fallback answered.
    notify_fallback: bool = False


class HandoffConfig(StrictModel):
    """What a fallback attempt is sent (seed 001: never the whole history by default)."""

    #: Messages kept before the last user turn, besides the system prompt; None keeps everything.
    context_turns: int | None = Field(default=2, ge=0)
    #: A lower max_tokens for the backup, if set.
    max_tokens: int | None = Field(default=None, ge=1)


class RouteConfig(StrictModel):
    task: str
    chain: list[str] = Field(min_length=1)
    traffic_class: TrafficClass = TrafficClass.NON_CRITICAL
    #: Upper bound on upstream attempts for one user request (seed 001: two steps are enough).
    max_attempts: int = Field(default=2, ge=1, le=5)
    #: Capabilities every model of the chain must have (checked at load).
    requires: frozenset[Capability] = frozenset()
    timeouts: TimeoutConfig = TimeoutConfig()
    policy: PolicyConfig = PolicyConfig()
    fallback: HandoffConfig = HandoffConfig()
    #: Per-request limits over the whole chain (tenants may override).
    ceilings: CeilingConfig = CeilingConfig()
    #: Legal, medical, financial, unreviewed code, agents with write tools: never downgrade to a
    #: weaker model; fail clearly instead (seed 002).
    sensitive: bool = False
    #: The degraded answer a class with on_exhausted=default_response returns when the chain fails.
    default_response: str | None = None
    #: When spend cannot be read: overrides guardrails.on_state_error for this route.
    on_state_error: FailureMode | None = None
    description: str = ""


class TenantConfig(StrictModel):
    description: str = ""
    budget: BudgetConfig = BudgetConfig()
    #: Overrides the routes' per-request ceilings for this tenant.
    ceilings: CeilingConfig | None = None


class TelemetryConfig(StrictModel):
    enabled: bool = True
    otlp_endpoint: str = "http://127.0.0.1:4318/v1/traces"
    service_name: str = "routeledger-router"
    #: Bounded queue of finished spans waiting for export (OTel BatchSpanProcessor max_queue_size).
    max_queue_size: int = Field(default=65536, gt=0)
    max_export_batch_size: int = Field(default=2048, gt=0)
    schedule_delay_ms: int = Field(default=200, gt=0)
    #: `lean`: spans encoded straight to OTLP protobuf (~10x less CPU per span), disk spool while the
    #: collector is down, every drop counted. `otel-sdk`: the SDK's BatchSpanProcessor + OTLP exporter
    #: (pure-OTel compatibility; its queue evicts when full, and the count is reported).
    exporter: Literal["lean", "otel-sdk"] = "lean"
    #: Where the lean exporter keeps OTLP requests the collector could not take (one dir per process).
    spool_dir: str = ".routeledger/spool/router"
    #: Disk budget of that spool, bytes; past it spans are dropped and counted.
    spool_budget_bytes: int = Field(default=256 * 1024 * 1024, ge=0)
    #: Journal each attempt before it is sent (in the spool directory), so a router killed with
    #: attempts in flight or spans not yet exported re-sends them, or records them as `incomplete`,
    #: on restart (lean exporter with a spool only).
    attempt_journal: bool = True
    #: Per-request export timeout, seconds.
    export_timeout_s: float = Field(default=10.0, gt=0)
    #: Environment variable with the collector's bearer token (sent when set; the collector's
    #: `collector.token_env`).
    token_env: str = "ROUTELEDGER_COLLECTOR_TOKEN"  # noqa: S105 - a variable name, not a secret


class RetryBudgetConfig(StrictModel):
    """Router-wide retry budget (Envoy): retries in flight at most `percent`% of requests in flight,
    but always at least `min_concurrency`, so an outage cannot turn into a retry storm."""

    percent: float = Field(default=20.0, ge=0, le=100)
    min_concurrency: int = Field(default=3, ge=0)


class RetryThrottleConfig(StrictModel):
    """Per-provider retry throttle (gRPC semantics): each retryable failure costs a token, each
    success earns `token_ratio`; retries are allowed only while tokens exceed half of `max_tokens`."""

    max_tokens: float = Field(default=10.0, gt=0)
    token_ratio: float = Field(default=0.1, gt=0)


class RouterServerConfig(StrictModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    #: Tenant used when a request names none.
    default_tenant: str = "default"
    #: Largest accepted request body, in bytes.
    max_body_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    #: Upstream HTTP client: `raw` (asyncio + httptools, the fastest) or `aiohttp` (httpx-aiohttp).
    upstream_client: Literal["raw", "aiohttp"] = "raw"
    retry_budget: RetryBudgetConfig = RetryBudgetConfig()
    retry_throttle: RetryThrottleConfig = RetryThrottleConfig()


class CollectorConfig(StrictModel):
    host: str = "127.0.0.1"
    port: int = Field(default=4318, ge=0, le=65535)
    #: Most rows per store insert (whole OTLP requests; fewer when the linger below runs out first).
    #: ClickHouse prefers few large inserts: each insert is a part to merge, and merging 10,000-row
    #: parts of llm_attempts and its views cost 3x the merge CPU of 50,000-row parts (bench/ingest.py).
    batch_max_rows: int = Field(default=50_000, gt=0)
    #: Longest a received span waits before its batch is written, in milliseconds.
    batch_max_delay_ms: int = Field(default=200, gt=0)
    #: Largest accepted OTLP request body, in bytes (after decompression).
    max_body_bytes: int = Field(default=32 * 1024 * 1024, gt=0)
    #: Durable spool (SQLite, WAL, fsync'd commits): spans are acknowledged once they are here.
    #: Empty = `spool/collector.db` beside the store's data directory.
    spool_path: str = ""
    #: Undrained spool bytes allowed while the store is down; past it OTLP gets 503 + Retry-After.
    spool_budget_bytes: int = Field(default=1024 * 1024 * 1024, gt=0)
    #: Span keys (trace id + span id) remembered, drained or not, to drop re-sent spans; held in
    #: memory (~100 bytes each) and in the spool, so the window survives a restart.
    dedup_keys: int = Field(default=1_000_000, ge=0)
    #: Seconds a client is told to wait (Retry-After) when the spool is full.
    retry_after_s: int = Field(default=5, ge=1)
    #: Environment variable holding the bearer token required on /v1/traces and /v1/query;
    #: unset or empty variable = no token required (loopback-only default bind).
    token_env: str = "ROUTELEDGER_COLLECTOR_TOKEN"  # noqa: S105 - a variable name, not a secret


class StoreConfig(StrictModel):
    #: chDB data directory (embedded ClickHouse); ignored when ROUTELEDGER_CLICKHOUSE_URL is set.
    path: str = ".routeledger/data"
    database: str = Field(default="routeledger", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    #: Days attempt rows and raw spans are kept (a TTL on llm_attempts and otel_traces, applied at
    #: every start, so changing it takes effect on the next collector start); 0 keeps them forever.
    ttl_days: int = Field(default=0, ge=0, le=36_500)


class DashboardConfig(StrictModel):
    """`routeledger dashboard`: where it listens, how fresh its numbers are, who may see them."""

    host: str = "127.0.0.1"
    port: int = Field(default=8501, ge=0, le=65535)
    #: Environment variable holding the access password (or token). Unset or empty: no gate, which
    #: is only allowed on a loopback host; the secret itself never sits in the file.
    password_env: str = "ROUTELEDGER_DASHBOARD_PASSWORD"  # noqa: S105 - a variable name
    #: Query results are reused for this many seconds; the ledger changes every few hundred ms,
    #: but people read a page for minutes, and a 10M-row scan should not run per click.
    cache_ttl_s: float = Field(default=60.0, gt=0, le=86400)
    #: Auto-refresh period when the viewer turns it on, in seconds; below the cache TTL a refresh
    #: shows the cached numbers again.
    refresh_s: int = Field(default=60, ge=5, le=86400)
    #: The time range pages open with: 30m, 24h, 7d, 4w or all.
    default_window: str = Field(default="7d", pattern=r"^(all|[1-9][0-9]*[mhdw])$")

    def password(self, environ: Mapping[str, str] | None = None) -> str | None:
        env = os.environ if environ is None else environ
        return env.get(self.password_env) or None


class ModelProfile(StrictModel):
    """How a simulated model answers: latency profile, size of the answer, its context window."""

    #: Time before the response starts (headers and, when streaming, the first token), ms.
    first_byte_ms: float = Field(default=0.0, ge=0)
    #: Pace of generation, ms per output token (streams send one chunk per token).
    per_token_ms: float = Field(default=0.0, ge=0)
    #: Uniform extra delay in [0, jitter_ms) added to the first byte, seeded.
    jitter_ms: float = Field(default=0.0, ge=0)
    #: Output tokens of a complete answer (capped by the request's max_tokens → finish "length").
    output_tokens: int = Field(default=32, ge=0)
    #: Prompts above this many tokens get the provider's context-length error.
    context_window: int = Field(default=128_000, gt=0)


class FaultKind(StrEnum):
    RATE_LIMIT = "rate_limit"  # 429, Retry-After when retry_after_s is set
    SERVER_ERROR = "server_error"  # 500/502/503 (status), an outage window is one of these
    RESET = "reset"  # connection closed before any response byte
    NO_RESPONSE = "no_response"  # accepts the request and never answers
    SLOW_FIRST_TOKEN = "slow_first_token"  # noqa: S105 - waits delay_ms before the first byte
    EMPTY = "empty"  # 200 with empty content
    INVALID_JSON = "invalid_json"  # broken JSON although JSON output was asked
    CONTEXT_LENGTH = "context_length"  # 400 context_length_exceeded
    CONTENT_POLICY = "content_policy"  # 400 content_policy_violation
    STREAM_CUT = "stream_cut"  # stream ends after after_tokens, no finish_reason, no [DONE]
    STALL = "stall"  # stream goes silent after after_tokens for delay_ms
    MALFORMED_CHUNK = "malformed_chunk"  # one unparsable SSE chunk after after_tokens
    MISSING_DONE = "missing_done"  # complete stream without the final [DONE]
    REJECT_PREFILL = "reject_prefill"  # 400 when the last message is from the assistant
    AUTH = "auth"  # 401 invalid API key
    QUOTA = "quota"  # 429 insufficient_quota (billing), not a transient limit
    OVERLOADED = "overloaded"  # 529 overloaded_error (Anthropic) / 503 (OpenAI)
    REDIRECT = "redirect"  # 302 to `location` (default: the cloud metadata address); never to be followed


class FaultRule(StrictModel):
    """A scripted fault: which traffic it hits, when (seconds since the simulator's t=0), how often."""

    kind: FaultKind
    provider: str | None = None
    model: str | None = None
    start_s: float = Field(default=0.0, ge=0)
    end_s: float | None = Field(default=None, ge=0)
    #: Hit every n-th matching request (1 = all), deterministic.
    every: int = Field(default=1, ge=1)
    #: Hit at most this many requests, then the rule is spent.
    count: int | None = Field(default=None, ge=1)
    #: Hit a matching request with this probability (seeded, so runs repeat).
    probability: float = Field(default=1.0, ge=0, le=1)
    status: int | None = Field(default=None, ge=400, le=599)
    retry_after_s: float | None = Field(default=None, ge=0)
    delay_ms: float = Field(default=0.0, ge=0)
    after_tokens: int = Field(default=0, ge=0)
    #: Where a redirect fault points.
    location: str = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"


class SimulatorConfig(StrictModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8700, ge=0, le=65535)
    seed: int = 7
    default: ModelProfile = ModelProfile()
    #: Profiles by provider name or `provider/model`; the most specific one applies.
    profiles: dict[str, ModelProfile] = {}
    faults: list[FaultRule] = []


class RouteledgerConfig(StrictModel):
    providers: dict[str, ProviderConfig]
    models: dict[str, ModelConfig]
    routes: dict[str, RouteConfig]
    tenants: dict[str, TenantConfig] = {}
    keys: dict[str, KeyConfig] = {}
    guardrails: GuardrailsConfig = GuardrailsConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
    router: RouterServerConfig = RouterServerConfig()
    collector: CollectorConfig = CollectorConfig()
    store: StoreConfig = StoreConfig()
    dashboard: DashboardConfig = DashboardConfig()
    simulator: SimulatorConfig = SimulatorConfig()
    analytics: AnalyticsConfig = AnalyticsConfig()

    @field_validator("providers", "models", "routes", "tenants", "keys")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not re.match(_NAME, str(name)):
                raise ValueError(f"name {name!r} must be 1-64 letters, digits, '_', '-' or '.'")
        return value


def expand_env(value: Any, environ: Mapping[str, str]) -> Any:
    """Replace `${NAME}` / `${NAME:-default}` in every string of a parsed YAML tree."""
    if isinstance(value, str):
        return _ENV_REF.sub(lambda m: environ.get(m.group(1), m.group(2) or ""), value)
    if isinstance(value, list):
        return [expand_env(v, environ) for v in value]
    if isinstance(value, dict):
        return {k: expand_env(v, environ) for k, v in value.items()}
    return value


def dotted(loc: tuple[int | str, ...]) -> str:
    """`('routes', 'support', 'chain', 1)` → `routes.support.chain[1]`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _first_error(exc: ValidationError) -> tuple[str, str]:
    err = exc.errors(include_url=False)[0]
    # Union members add their class name to the location; users never wrote those names.
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p[:1].isupper()))
    message = err["msg"]
    if err["type"] == "extra_forbidden":
        message = "unknown key (not allowed here)"
    elif err["type"] == "missing":
        message = "required field is missing"
    return dotted(loc), message


def _check_references(config: RouteledgerConfig) -> tuple[str, str] | None:
    """Cross references pydantic cannot see: chains name models, models name providers."""
    for name, model in config.models.items():
        if model.provider not in config.providers:
            known = ", ".join(sorted(config.providers)) or "none"
            return f"models.{name}.provider", f"unknown provider {model.provider!r} (known: {known})"
    for name, route in config.routes.items():
        for i, model_name in enumerate(route.chain):
            if model_name not in config.models:
                known = ", ".join(sorted(config.models)) or "none"
                return f"routes.{name}.chain[{i}]", f"unknown model {model_name!r} (known: {known})"
        if len(set(route.chain)) != len(route.chain):
            return f"routes.{name}.chain", "a model appears twice in the chain"
        for i, model_name in enumerate(route.chain):
            missing = route.requires - config.models[model_name].capabilities
            if missing:
                lacking = ", ".join(sorted(missing))
                return f"routes.{name}.chain[{i}]", f"model {model_name!r} lacks {lacking}, which the route requires"
        timeouts = route.timeouts
        if timeouts.first_byte_s > timeouts.total_s:
            return f"routes.{name}.timeouts.first_byte_s", "must not exceed total_s"
    for name, key in config.keys.items():
        if config.tenants and key.tenant not in config.tenants:
            return f"keys.{name}.tenant", f"unknown tenant {key.tenant!r}"
        for route_name in sorted(key.routes):
            if route_name not in config.routes:
                return f"keys.{name}.routes", f"unknown route {route_name!r}"
    hashes = [k.hash for k in config.keys.values()]
    if len(set(hashes)) != len(hashes):
        return "keys", "two keys have the same hash"
    for name, provider in config.providers.items():
        problem = private_upstream(provider)
        if problem:
            return f"providers.{name}.base_url", problem
    for name, model in config.models.items():
        price = model.price
        if isinstance(price, GenaiPricesRef):
            try:
                resolve_price(price)
            except UnknownPrice as exc:
                return f"models.{name}.price.genai_prices", str(exc)
    return None


def private_upstream(provider: ProviderConfig) -> str | None:
    """Why this upstream must be refused (a private or metadata address not allowed), if so."""
    from routeledger.egress import forbidden_reason

    if provider.allow_private_network:
        return None
    host = urlsplit(provider.base_url).hostname or ""
    reason = forbidden_reason(host)
    if reason:
        return f"{reason}; set allow_private_network: true if this upstream is meant to be local"
    return None


def parse_config(data: Any, source: str, environ: Mapping[str, str] | None = None) -> RouteledgerConfig:
    """Validate an already-parsed YAML tree; `source` names it in errors."""
    if not isinstance(data, dict):
        raise ConfigError(source, "", "the file must hold a mapping at the top level")
    data = expand_env(data, os.environ if environ is None else environ)
    try:
        config = RouteledgerConfig.model_validate(data)
    except ValidationError as exc:
        field, fault = _first_error(exc)
        raise ConfigError(source, field, fault) from None
    problem = _check_references(config)
    if problem:
        raise ConfigError(source, *problem)
    return config


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> RouteledgerConfig:
    """Read and validate the YAML file; every fault is one `ConfigError`."""
    env = os.environ if environ is None else environ
    source = str(path or env.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)
    try:
        text = Path(source).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, "", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, "", f"cannot read the file ({exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(source, "", f"not valid YAML: {where}{getattr(exc, 'problem', exc)}") from None
    return parse_config(data, source, env)
