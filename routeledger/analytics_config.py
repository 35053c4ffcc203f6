"""The `analytics:` section of `routeledger.yaml`: prices per task, anomaly thresholds, alert rules.

It lives in the kernel (not in `analytics/`) because the root config is parsed here and the kernel
never imports a stage; the analytics stage reads these models. Every default runs the demo: without
an `analytics:` section the fallback-share alert watches every route at the seed's 5% line.
"""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum

from pydantic import Field, field_validator, model_validator

from routeledger.strict import StrictModel

_DURATION = re.compile(r"^\d+\s*(m|h|d|w)$")


def _check_duration(value: str) -> str:
    if not _DURATION.match(value.strip().lower()) or int(re.sub(r"\D", "", value)) <= 0:
        raise ValueError(f"{value!r} is not a duration like 30m, 24h, 7d or 4w")
    return value


class UnitPriceConfig(StrictModel):
    """What the product charges for one task or feature (seed 000 layer 4: price by task)."""

    #: Price per successful answer, in USD.
    price_usd: Decimal = Field(gt=0)


class UnitEconomicsConfig(StrictModel):
    #: task name → price; feature name → price.
    tasks: dict[str, UnitPriceConfig] = {}
    features: dict[str, UnitPriceConfig] = {}
    #: The cost buffer a price must keep over the cost (seed 000: 20-30%); below `min` is flagged.
    buffer_min: float = Field(default=0.2, ge=0, le=1)
    buffer_target: float = Field(default=0.3, ge=0, le=1)


class AnomalyConfig(StrictModel):
    """Thresholds for `analytics anomalies`; the window is the recent slice judged against history."""

    #: Seed 001: above 3-5% fallback share without a clear reason, the chain needs work.
    fallback_share_threshold: float = Field(default=0.05, ge=0, le=1)
    #: Below this many requests in the window a share is noise, not a signal.
    min_requests: int = Field(default=20, ge=1)
    window: str = "1h"
    #: How many past windows form the baseline (median/MAD of the route's own history).
    baseline_windows: int = Field(default=24, ge=3, le=1000)
    #: A value this many scaled MADs above the baseline median is a spike.
    mad_threshold: float = Field(default=4.0, gt=0)

    @field_validator("window")
    @classmethod
    def _duration(cls, value: str) -> str:
        return _check_duration(value)


class AlertMetric(StrEnum):
    FALLBACK_SHARE = "fallback_share"
    RETRY_SHARE = "retry_share"
    COST_PER_REQUEST = "cost_per_request"
    P95_LATENCY_MS = "p95_latency_ms"
    SPEND_USD = "spend_usd"
    ANOMALY = "anomaly"


class AlertScope(StrEnum):
    OVERALL = "overall"
    ROUTE = "route"
    MODEL = "model"
    PROVIDER = "provider"
    TENANT = "tenant"


class WebhookFormat(StrEnum):
    SLACK = "slack"  # {"text": ...}: Slack, Mattermost, Rocket.Chat incoming webhooks
    JSON = "json"  # the alert as a JSON document


class WebhookConfig(StrictModel):
    url: str
    format: WebhookFormat = WebhookFormat.JSON
    timeout_s: float = Field(default=5.0, gt=0, le=60)
    #: Delivery attempts per notification (first + retries), with doubling backoff from `backoff_s`.
    attempts: int = Field(default=3, ge=1, le=10)
    backoff_s: float = Field(default=0.5, ge=0, le=60)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("webhook url must start with http:// or https://")
        return value


class AlertRuleConfig(StrictModel):
    metric: AlertMetric
    scope: AlertScope = AlertScope.ROUTE
    #: Fire when the value is above this (ignored for `anomaly`, which carries its own evidence).
    threshold: float = 0.0
    window: str = "1h"
    min_requests: int = Field(default=20, ge=0)
    #: After a notification, the same alert is not sent again for this long while it keeps firing.
    cooldown: str = "1h"
    webhooks: list[str] = []

    @field_validator("window", "cooldown")
    @classmethod
    def _duration(cls, value: str) -> str:
        return _check_duration(value)


def _default_rules() -> dict[str, AlertRuleConfig]:
    return {"fallback_share": AlertRuleConfig(metric=AlertMetric.FALLBACK_SHARE, threshold=0.05)}


class AlertsConfig(StrictModel):
    rules: dict[str, AlertRuleConfig] = Field(default_factory=_default_rules)
    webhooks: dict[str, WebhookConfig] = {}
    #: How often the service's scheduler evaluates the rules.
    interval_s: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _known_webhooks(self) -> AlertsConfig:
        for name, rule in self.rules.items():
            for hook in rule.webhooks:
                if hook not in self.webhooks:
                    known = ", ".join(sorted(self.webhooks)) or "none configured"
                    raise ValueError(f"rules.{name}.webhooks: unknown webhook {hook!r} (known: {known})")
        return self


class AnalyticsConfig(StrictModel):
    unit_economics: UnitEconomicsConfig = UnitEconomicsConfig()
    anomalies: AnomalyConfig = AnomalyConfig()
    alerts: AlertsConfig = AlertsConfig()
    #: Outputs longer than this many tokens count as over-long answers.
    long_answer_tokens: int = Field(default=2000, ge=1)
    #: Weeks of history behind the expected-cost probabilities (seed 001: the last 2-4 weeks).
    expected_cost_weeks: int = Field(default=4, ge=1, le=52)
