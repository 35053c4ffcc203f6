"""The provider simulator over real HTTP: both wire protocols, deterministic usage, every fault."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest

from routeledger.config import ModelProfile, SimulatorConfig
from routeledger.simulator import SimulatorThread, count_input_tokens, count_tokens
from tests.conftest import set_faults, sim_log

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Where is my order 54128?"}]


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    config = SimulatorConfig(
        default=ModelProfile(output_tokens=12),
        profiles={"tiny/small-window": ModelProfile(context_window=10, output_tokens=5)},
    )
    with SimulatorThread(config) as s:
        yield s


def chat(sim: SimulatorThread, provider: str = "alpha", api: str = "openai", **body: Any) -> httpx.Response:
    path = "/v1/chat/completions" if api == "openai" else "/v1/messages"
    payload: dict[str, Any] = {"model": "m1", "messages": MESSAGES, **body}
    return httpx.post(
        f"{sim.url}/{provider}{path}", json=payload, headers={"x-routeledger-request-id": "r1"}, timeout=5
    )


def test_token_counting_rule() -> None:
    assert count_tokens("") == 0
    assert count_tokens("abcd") == 1
    assert count_tokens("abcde") == 2
    assert count_input_tokens(MESSAGES) == 3 + (4 + 3) + (4 + 6)


def test_openai_shape_and_usage_are_deterministic(sim: SimulatorThread) -> None:
    body = chat(sim).json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == "lorem ipsum dolor amet " * 2 + "lorem ipsum dolor amet"
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 20, "completion_tokens": 12, "total_tokens": 32}


def test_max_tokens_caps_the_answer_with_finish_length(sim: SimulatorThread) -> None:
    body = chat(sim, max_tokens=5).json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 5


def test_anthropic_shape(sim: SimulatorThread) -> None:
    payload = {"model": "claude", "system": "Be brief.", "messages": MESSAGES[1:], "max_tokens": 100}
    body = httpx.post(f"{sim.url}/beta/v1/messages", json=payload, timeout=5).json()
    assert body["type"] == "message"
    assert body["content"][0]["type"] == "text"
    assert body["stop_reason"] == "end_turn"
    assert body["usage"] == {"input_tokens": 20, "output_tokens": 12}


def test_the_official_openai_client_speaks_to_it(sim: SimulatorThread) -> None:
    with openai.OpenAI(base_url=sim.url + "/alpha/v1", api_key="k", max_retries=0) as client:
        completion = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # type: ignore[arg-type]
        assert completion.usage is not None and completion.usage.completion_tokens == 12
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},  # type: ignore[arg-type]
        )
        chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == completion.choices[0].message.content
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 12


def test_ground_truth_log(sim: SimulatorThread) -> None:
    chat(sim, provider="alpha")
    chat(sim, provider="beta", api="anthropic", max_tokens=3)
    log = sim_log(sim)
    assert [(e["provider"], e["api"], e["request_id"], e["output_tokens"]) for e in log] == [
        ("alpha", "openai", "r1", 12),
        ("beta", "anthropic", "r1", 3),
    ]
    assert sim_log(sim, provider="beta")[0]["input_tokens"] == 20


@pytest.mark.parametrize(
    ("rule", "status", "code"),
    [
        pytest.param({"kind": "rate_limit"}, 429, "rate_limit_exceeded", id="429"),
        pytest.param({"kind": "quota"}, 429, "insufficient_quota", id="quota"),
        pytest.param({"kind": "server_error", "status": 502}, 502, "server_error", id="502"),
        pytest.param({"kind": "overloaded"}, 503, "overloaded", id="overloaded"),
        pytest.param({"kind": "auth"}, 401, "invalid_api_key", id="auth"),
        pytest.param({"kind": "content_policy"}, 400, "content_policy_violation", id="policy"),
        pytest.param({"kind": "context_length"}, 400, "context_length_exceeded", id="context"),
    ],
)
def test_error_faults_in_openai_shape(sim: SimulatorThread, rule: dict[str, Any], status: int, code: str) -> None:
    set_faults(sim, [rule])
    response = chat(sim)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_anthropic_errors_use_anthropic_shape(sim: SimulatorThread) -> None:
    set_faults(sim, [{"kind": "overloaded"}])
    response = chat(sim, api="anthropic", max_tokens=10)
    assert response.status_code == 529
    assert response.json() == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "The model is overloaded."},
    }


def test_retry_after_is_sent_when_scripted(sim: SimulatorThread) -> None:
    set_faults(sim, [{"kind": "rate_limit", "retry_after_s": 2, "count": 1}])
    first, second = chat(sim), chat(sim)
    assert (first.status_code, first.headers["retry-after"]) == (429, "2")
    assert second.status_code == 200


def test_every_and_count(sim: SimulatorThread) -> None:
    set_faults(sim, [{"kind": "server_error", "every": 3, "count": 2}])
    statuses = [chat(sim).status_code for _ in range(9)]
    assert statuses == [200, 200, 500, 200, 200, 500, 200, 200, 200]


def test_rules_match_provider_and_model(sim: SimulatorThread) -> None:
    set_faults(sim, [{"kind": "server_error", "provider": "beta", "model": "m1"}])
    assert chat(sim, provider="alpha").status_code == 200
    assert chat(sim, provider="beta").status_code == 500
    assert chat(sim, provider="beta", model="m2").status_code == 200


def test_outage_windows_follow_the_simulator_clock(sim: SimulatorThread) -> None:
    set_faults(sim, [{"kind": "server_error", "status": 503, "start_s": 3600, "end_s": 7200}])
    assert chat(sim).status_code == 200  # t < 3600 s: before the window
    set_faults(sim, [{"kind": "server_error", "status": 503, "start_s": 0, "end_s": 3600}])
    assert chat(sim).status_code == 503
    httpx.post(sim.url + "/_sim/reset", timeout=5).raise_for_status()
    assert sim_log(sim) == []


def test_reset_closes_the_connection_without_an_answer(sim: SimulatorThread) -> None:
    set_faults(sim, [{"kind": "reset"}])
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        chat(sim)


def test_no_response_holds_until_the_client_gives_up(sim: SimulatorThread) -> None:
    set_faults(sim, [{"kind": "no_response"}])
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{sim.url}/alpha/v1/chat/completions", json={"model": "m", "messages": MESSAGES}, timeout=0.3)


def test_slow_first_token_delays_the_answer(sim: SimulatorThread) -> None:
    set_faults(sim, [{"kind": "slow_first_token", "delay_ms": 400}])
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{sim.url}/alpha/v1/chat/completions", json={"model": "m", "messages": MESSAGES}, timeout=0.1)


def test_empty_and_invalid_json_answers(sim: SimulatorThread) -> None:
    set_faults(sim, [{"kind": "empty", "count": 1}, {"kind": "invalid_json"}])
    empty = chat(sim).json()
    assert empty["choices"][0]["message"]["content"] == ""
    assert empty["usage"]["completion_tokens"] == 0
    broken = chat(sim, response_format={"type": "json_object"}).json()["choices"][0]["message"]["content"]
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(broken)
    set_faults(sim, [])
    valid = chat(sim, response_format={"type": "json_object"}).json()["choices"][0]["message"]["content"]
    assert orjson.loads(valid)["answer"].startswith("lorem")


def test_prompts_above_the_window_get_context_length_errors(sim: SimulatorThread) -> None:
    response = httpx.post(
        f"{sim.url}/tiny/v1/chat/completions", json={"model": "small-window", "messages": MESSAGES}, timeout=5
    )
    assert response.status_code == 400
    assert "maximum context length is 10 tokens" in response.json()["error"]["message"]


def test_reject_prefill_only_bites_prefilling_requests(sim: SimulatorThread) -> None:
    set_faults(sim, [{"kind": "reject_prefill"}])
    assert chat(sim).status_code == 200
    prefill = [*MESSAGES, {"role": "assistant", "content": "{"}]
    assert chat(sim, messages=prefill).status_code == 400


def sse_events(sim: SimulatorThread, api: str = "openai", **body: Any) -> tuple[list[bytes], bool]:
    """The raw data lines of a stream, and whether the body ended cleanly."""
    path = "/alpha/v1/chat/completions" if api == "openai" else "/beta/v1/messages"
    payload = {"model": "m1", "messages": MESSAGES, "stream": True, "max_tokens": 100, **body}
    lines: list[bytes] = []
    clean = True
    try:
        with httpx.stream("POST", sim.url + path, json=payload, timeout=5) as response:
            for line in response.iter_lines():
                if line.startswith("data: "):
                    lines.append(line[6:].encode())
    except httpx.HTTPError:
        clean = False
    return lines, clean


def test_openai_stream_with_usage_and_done(sim: SimulatorThread) -> None:
    lines, clean = sse_events(sim, stream_options={"include_usage": True})
    assert clean and lines[-1] == b"[DONE]"
    chunks = [orjson.loads(x) for x in lines[:-1]]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"]["completion_tokens"] == 12
    assert sum(1 for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")) == 12


def test_anthropic_stream_events(sim: SimulatorThread) -> None:
    lines, clean = sse_events(sim, api="anthropic")
    types = [orjson.loads(x)["type"] for x in lines]
    assert clean
    assert types[:2] == ["message_start", "content_block_start"]
    assert types.count("content_block_delta") == 12
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"]


@pytest.mark.parametrize(
    ("rule", "tokens", "finish", "done", "clean"),
    [
        pytest.param({"kind": "stream_cut", "after_tokens": 4}, 4, False, False, True, id="cut"),
        pytest.param({"kind": "reset", "after_tokens": 4}, 4, False, False, False, id="reset-mid-stream"),
        pytest.param({"kind": "missing_done"}, 12, True, False, True, id="missing-done"),
        pytest.param(
            {"kind": "stall", "after_tokens": 3, "delay_ms": 50}, 12, True, True, True, id="stall-then-resume"
        ),
    ],
)
def test_stream_faults(
    sim: SimulatorThread, rule: dict[str, Any], tokens: int, finish: bool, done: bool, clean: bool
) -> None:
    set_faults(sim, [rule])
    lines, ended_cleanly = sse_events(sim)
    assert ended_cleanly is clean
    assert (lines[-1] == b"[DONE]") is done
    chunks = [orjson.loads(x) for x in lines if x != b"[DONE]"]
    assert sum(1 for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")) == tokens
    assert any(c["choices"] and c["choices"][0]["finish_reason"] for c in chunks) is finish


def test_malformed_chunk_is_injected_once(sim: SimulatorThread) -> None:
    set_faults(sim, [{"kind": "malformed_chunk", "after_tokens": 2}])
    lines, clean = sse_events(sim)
    bad = [x for x in lines if x != b"[DONE]" and not x.endswith(b"}")]
    assert clean and len(bad) == 1


def test_control_api_refuses_bad_rules(sim: SimulatorThread) -> None:
    response = httpx.put(sim.url + "/_sim/faults", json=[{"kind": "meteor"}], timeout=5)
    assert response.status_code == 400
    assert response.json()["error"].startswith("invalid fault rule at 0.kind")
    assert httpx.get(sim.url + "/_sim/faults", timeout=5).json() == []


def test_bad_requests_get_clear_errors(sim: SimulatorThread) -> None:
    response = httpx.post(f"{sim.url}/alpha/v1/chat/completions", content=b"{not json", timeout=5)
    assert response.status_code == 400
    assert "invalid JSON body" in response.json()["error"]["message"]
    assert httpx.get(sim.url + "/nope", timeout=5).status_code == 404
