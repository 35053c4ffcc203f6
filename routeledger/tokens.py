"""Token estimates: the router's estimate of a prompt before it is sent, and the simulator's truth.

Real tokenizers differ by provider and shipping one per model would cost start-up time and memory
for a figure that only has to be close: the router uses it to skip models whose context window a
prompt cannot fit and to estimate an attempt's cost before launching it. One token per 4 UTF-8 bytes
(rounded up) is the usual rule of thumb; each message adds 4 tokens of framing and each prompt 3
tokens of priming, as OpenAI's chat format does. The simulator counts with the same rule, so a test
knows the true token counts of every simulated answer.
"""

from __future__ import annotations

from typing import Any

import orjson

MESSAGE_OVERHEAD = 4
PROMPT_OVERHEAD = 3
_OUTPUT_WORDS = ("lorem", "ipsum", "dolor", "amet")


def count_tokens(text: str) -> int:
    return (len(text.encode("utf-8")) + 3) // 4


def content_text(content: Any) -> str:
    """Text of an OpenAI or Anthropic content field (a string or a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict):
                if isinstance(part.get("text"), str):
                    parts.append(part["text"])
                elif part.get("type") in ("image_url", "image"):
                    parts.append("x" * 340)  # an image counts as 85 tokens, like a low-detail tile
        return "".join(parts)
    return ""


def count_input_tokens(messages: list[Any], system: Any = None, tools: Any = None) -> int:
    """Prompt tokens for a chat request (OpenAI `messages`, or Anthropic `system` + `messages`)."""
    total = PROMPT_OVERHEAD
    if system:
        total += MESSAGE_OVERHEAD + count_tokens(content_text(system))
    for message in messages:
        if isinstance(message, dict):
            total += MESSAGE_OVERHEAD + count_tokens(content_text(message.get("content")))
    if tools:
        total += count_tokens(orjson.dumps(tools).decode())
    return total


def output_text(tokens: int) -> str:
    """An answer of exactly `tokens` simulated tokens: one word per token."""
    return " ".join(_OUTPUT_WORDS[i % 4] for i in range(tokens))


def output_word(index: int) -> str:
    """The `index`-th streamed token (with its leading space after the first)."""
    word = _OUTPUT_WORDS[index % 4]
    return word if index == 0 else " " + word
