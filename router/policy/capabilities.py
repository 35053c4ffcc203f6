"""What a request needs from a model, so a fallback only goes to a model that can serve it."""

from __future__ import annotations

from routeledger.config import Capability, ModelConfig
from routeledger.router.api.chat import ChatRequest


def required_capabilities(request: ChatRequest) -> frozenset[Capability]:
    needed: set[Capability] = set()
    kind = (request.response_format or {}).get("type")
    if kind == "json_schema":
        needed.add(Capability.JSON_SCHEMA)
    elif kind == "json_object":
        needed.add(Capability.JSON_OBJECT)
    if request.tools:
        needed.add(Capability.TOOLS)
    if request.stream:
        needed.add(Capability.STREAMING)
    if request.messages and request.messages[-1].role == "assistant":
        needed.add(Capability.ASSISTANT_PREFILL)
    for message in request.messages:
        if isinstance(message.content, list) and any(p.get("type") == "image_url" for p in message.content):
            needed.add(Capability.VISION)
            break
    return frozenset(needed)


def can_serve(model: ModelConfig, needed: frozenset[Capability], prompt_tokens: int) -> bool:
    """Declared capabilities cover the request and the prompt fits the window (JSON schema implies
    JSON object mode)."""
    have = model.capabilities
    if Capability.JSON_SCHEMA in have:
        have = have | {Capability.JSON_OBJECT}
    return needed <= have and prompt_tokens < model.context_window
