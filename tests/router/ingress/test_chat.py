"""Incoming requests: validated at the edge, with OpenAI-shaped errors naming the parameter."""

from __future__ import annotations

import orjson
import pytest

from routeledger.router.api.chat import parse_chat_request
from routeledger.router.api.errors import GatewayError


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        pytest.param(b"{", None, "not valid JSON", id="json"),
        pytest.param(b"[]", None, "must be a JSON object", id="array"),
        pytest.param(
            orjson.dumps({"messages": [{"role": "user", "content": "x"}]}),
            "model",
            "required field is missing",
            id="no-model",
        ),
        pytest.param(orjson.dumps({"model": "r", "messages": []}), "messages", "at least 1 item", id="no-messages"),
        pytest.param(
            orjson.dumps({"model": "r", "messages": [{"role": "wizard", "content": "x"}]}),
            "messages.0.role",
            "Input should be",
            id="role",
        ),
        pytest.param(
            orjson.dumps({"model": "r", "messages": [{"role": "user"}], "max_tokens": 0}),
            "max_tokens",
            "greater than or equal to 1",
            id="max-tokens",
        ),
        pytest.param(
            orjson.dumps({"model": "r", "messages": [{"role": "user"}], "api_base": "http://169.254.169.254"}),
            "api_base",
            "upstreams come only from the gateway config",
            id="ssrf-api-base",
        ),
        pytest.param(
            orjson.dumps({"model": "r", "messages": [{"role": "user"}], "extra_headers": {"x": "y"}}),
            "extra_headers",
            "not accepted",
            id="ssrf-headers",
        ),
    ],
)
def test_bad_requests(body: bytes, param: str | None, message: str) -> None:
    with pytest.raises(GatewayError) as caught:
        parse_chat_request(body)
    error = caught.value
    assert error.status == 400 and error.type == "invalid_request_error"
    assert error.param == param
    assert message in error.message


def test_unknown_openai_parameters_are_kept() -> None:
    request, raw = parse_chat_request(
        orjson.dumps({"model": "r", "messages": [{"role": "user", "content": "x"}], "logit_bias": {"1": 2}})
    )
    assert request.model == "r"
    assert raw["logit_bias"] == {"1": 2}
