"""What a fallback attempt is sent: seed 001 — the system prompt, the last user turn and a short
window of recent turns, never the whole history by default; optionally a lower max_tokens.

The first model already read (and was probably billed for) the full context; sending it again to
the backup pays for it twice and invites a longer answer.
"""

from __future__ import annotations

from typing import Any

from routeledger.config import HandoffConfig

_SYSTEM_ROLES = frozenset({"system", "developer"})


def handoff_messages(messages: list[dict[str, Any]], config: HandoffConfig) -> list[dict[str, Any]]:
    if config.context_turns is None:
        return messages
    system = [m for m in messages if m.get("role") in _SYSTEM_ROLES]
    rest = [m for m in messages if m.get("role") not in _SYSTEM_ROLES]
    last_user = max((i for i, m in enumerate(rest) if m.get("role") == "user"), default=len(rest) - 1)
    start = max(0, last_user - config.context_turns)
    window = rest[start:]
    # A tool result without the assistant turn that called it is invalid for every provider.
    while window and window[0].get("role") == "tool":
        window = window[1:]
    return system + window


def handoff_body(raw: dict[str, Any], config: HandoffConfig) -> dict[str, Any]:
    """The raw request body a fallback attempt sends (its max_tokens comes from `handoff_max_tokens`)."""
    body = dict(raw)
    body["messages"] = handoff_messages(list(raw["messages"]), config)
    return body


def handoff_max_tokens(asked: int | None, config: HandoffConfig) -> int | None:
    """The backup's output limit: the configured lower limit, never above what the client asked."""
    if config.max_tokens is None:
        return asked
    return min(config.max_tokens, asked) if asked is not None else config.max_tokens
