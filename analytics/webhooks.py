"""Alert delivery to webhooks: Slack-compatible (`{"text": ...}`) or the alert as generic JSON.

A notification is tried `attempts` times with doubling backoff on connection errors, timeouts,
429 and 5xx; any other status is final (a 4xx will not get better by repeating it). The sleep
between tries is injected, so tests run without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from routeledger.analytics_config import WebhookConfig, WebhookFormat

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
STATUS_ICON = {"firing": ":rotating_light:", "renotified": ":rotating_light:", "resolved": ":white_check_mark:"}


@dataclass(frozen=True, slots=True)
class Delivery:
    webhook: str
    ok: bool
    tries: int
    detail: str  # "200" or the last error


def render_payload(fmt: WebhookFormat, alert: Mapping[str, Any]) -> dict[str, Any]:
    if fmt is WebhookFormat.SLACK:
        status = str(alert["status"])
        label = {"renotified": "STILL FIRING"}.get(status, status.upper())
        return {"text": f"{STATUS_ICON.get(status, '')} [{label}] {alert['rule']}: {alert['message']}".strip()}
    return dict(alert)


def deliver(
    name: str,
    hook: WebhookConfig,
    alert: Mapping[str, Any],
    client: httpx.Client,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    payload = render_payload(hook.format, alert)
    detail = ""
    for attempt in range(1, hook.attempts + 1):
        try:
            response = client.post(hook.url, json=payload, timeout=hook.timeout_s)
        except httpx.HTTPError as exc:
            detail = f"{type(exc).__name__}: {exc}"[:200]
        else:
            detail = str(response.status_code)
            if response.is_success:
                return Delivery(name, True, attempt, detail)
            if response.status_code not in RETRYABLE_STATUSES:
                return Delivery(name, False, attempt, detail)
        if attempt < hook.attempts:
            sleep(hook.backoff_s * 2 ** (attempt - 1))
    return Delivery(name, False, hook.attempts, detail)
