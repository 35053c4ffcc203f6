"""The collector's fast extractor agrees with the reference one (`attempt_row` + `row_record`) on
valid spans, rejects the same invalid ones with the same message, and skips foreign spans."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from collector.rows import extract_attempts, extract_records
from collector.writer import row_record
from routeledger import semconv as sc
from tests.collector.test_traces import attempt_attrs, request, span

CASES: list[Any] = [
    pytest.param({}, id="full"),
    pytest.param({sc.TTFT_MS: 3}, id="ttft-int"),
    pytest.param({sc.TTFT_MS: -1.0}, id="ttft-negative"),
    pytest.param({sc.COST_USD: 0}, id="cost-int-zero"),
    pytest.param({sc.COST_USD: 1.25}, id="cost-float"),
    pytest.param({sc.GEN_AI_RESPONSE_FINISH_REASONS: []}, id="no-finish"),
    pytest.param({sc.BILLABLE: "yes"}, id="billable-text"),
    pytest.param({sc.HTTP_RESPONSE_STATUS_CODE: 503, sc.ERROR_TYPE: "503"}, id="failure"),
    pytest.param({sc.COST_USD: "lots"}, id="bad-cost"),
    pytest.param({sc.GEN_AI_USAGE_INPUT_TOKENS: -5}, id="bad-tokens"),
    pytest.param({sc.ATTEMPT: "one"}, id="bad-attempt"),
    pytest.param({sc.REQUEST_ID: ""}, id="no-request-id"),
    pytest.param({sc.ROUTE: "r" * 300}, id="long-label"),
    pytest.param({sc.REASON: 7}, id="reason-not-text"),
]


@pytest.mark.parametrize("changes", CASES)
def test_fast_and_reference_extractors_agree(changes: dict[str, Any]) -> None:
    body = request(span(0, attempt_attrs(0, **changes)), span(1, {"http.route": "/v1/chat/completions", sc.ROUTE: 5}))
    reference = extract_attempts(body)
    fast = extract_records(body)
    assert (fast.skipped, fast.rejected, fast.first_rejection) == (
        reference.skipped,
        reference.rejected,
        reference.first_rejection,
    )
    expected = [row_record(row) for row in reference.rows]
    assert [(k, orjson.loads(p)) for k, p in fast.records] == [(k, orjson.loads(p)) for k, p in expected]
