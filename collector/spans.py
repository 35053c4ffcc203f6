"""Attempt spans of an OTLP trace request → validated `llm_attempts` rows, as one Arrow table.

Why columnar: reading a span's ~28 attributes through protobuf message objects costs 40-90 µs of
Python per span (every field access builds a wrapper), which capped one collector near 3,000
spans/s. Here `ptars` (Rust) decodes the body straight into Arrow arrays, and every check and
every column is one array operation over all spans of the request: no per-span Python.

A span is an attempt when it carries `routeledger.attempt` (others are counted and skipped). An
attempt span whose attributes are malformed (a cost that is not a decimal, a negative token count,
an id of the wrong size, an over-long label) is rejected as a whole and counted: it is reported
back through OTLP `partial_success`, never half-written. An attribute whose value is empty (no
kind set) counts as absent.

`RULES` is the only place that ties a column to an attribute: a new attempt column backed by a new
attribute is one line there (plus its constant in `routeledger.semconv` and its column in
`routeledger.attempt` / a migration). `tests/collector/reference.py` holds a plain-Python reading
of the same rules; tests feed both the same spans.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

import numpy as np
import ptars
import pyarrow as pa
import pyarrow.compute as pc
from google.protobuf import descriptor_pb2, descriptor_pool

from routeledger import semconv as sc
from routeledger.attempt import ATTEMPT_SCHEMA
from routeledger.collector.otlp import OtlpDecodeError

#: Cost of one attempt can never plausibly exceed this (USD); larger values are corrupt data.
MAX_ATTEMPT_COST = Decimal(100_000)
#: Token counts are UInt32 columns.
MAX_TOKENS = 2**32 - 1
#: Longest label (route, model, tenant, ...), in characters: labels are LowCardinality dimensions.
MAX_LABEL = 256
#: Longest free-text reason, in characters.
MAX_REASON = 1024
#: Bytes of a span key: trace id (16) + span id (8).
KEY_BYTES = 24


class Kind(StrEnum):
    """How a column is read from its attribute."""

    TEXT = "text"  # a string up to `limit` characters; absent → ''
    INT = "int"  # an integer in [low, high]; absent → low
    BOOL = "bool"  # the attribute's truth value; absent → false
    FIRST_TEXT = "first_text"  # the first element of an array, as text; absent → ''
    DECIMAL = "decimal"  # a decimal (string, int or double) in [0, MAX_ATTEMPT_COST], 9 places; absent → 0
    NONNEGATIVE_FLOAT = "nonnegative_float"  # a number ≥ 0, else NULL


@dataclass(frozen=True, slots=True)
class Rule:
    column: str
    key: str
    kind: Kind
    low: int = 0
    high: int = 0
    limit: int = MAX_LABEL


RULES: tuple[Rule, ...] = (
    Rule("request_id", sc.REQUEST_ID, Kind.TEXT),
    Rule("attempt", sc.ATTEMPT, Kind.INT, low=1, high=255),
    Rule("decision", sc.DECISION, Kind.TEXT),
    Rule("route", sc.ROUTE, Kind.TEXT),
    Rule("task", sc.TASK, Kind.TEXT),
    Rule("tenant", sc.TENANT, Kind.TEXT),
    Rule("feature", sc.FEATURE, Kind.TEXT),
    Rule("traffic_class", sc.TRAFFIC_CLASS, Kind.TEXT),
    Rule("model", sc.MODEL, Kind.TEXT),
    Rule("provider", sc.PROVIDER, Kind.TEXT),
    Rule("provider_name", sc.GEN_AI_PROVIDER_NAME, Kind.TEXT),
    Rule("request_model", sc.GEN_AI_REQUEST_MODEL, Kind.TEXT),
    Rule("response_model", sc.GEN_AI_RESPONSE_MODEL, Kind.TEXT),
    Rule("server_address", sc.SERVER_ADDRESS, Kind.TEXT),
    Rule("outcome", sc.OUTCOME, Kind.TEXT),
    Rule("failure_class", sc.FAILURE_CLASS, Kind.TEXT),
    Rule("error_type", sc.ERROR_TYPE, Kind.TEXT),
    Rule("http_status", sc.HTTP_RESPONSE_STATUS_CODE, Kind.INT, high=999),
    Rule("finish_reason", sc.GEN_AI_RESPONSE_FINISH_REASONS, Kind.FIRST_TEXT),
    Rule("billable", sc.BILLABLE, Kind.BOOL),
    Rule("reason", sc.REASON, Kind.TEXT, limit=MAX_REASON),
    Rule("stream", sc.STREAM, Kind.BOOL),
    Rule("input_tokens", sc.GEN_AI_USAGE_INPUT_TOKENS, Kind.INT, high=MAX_TOKENS),
    Rule("output_tokens", sc.GEN_AI_USAGE_OUTPUT_TOKENS, Kind.INT, high=MAX_TOKENS),
    Rule("cache_read_tokens", sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, Kind.INT, high=MAX_TOKENS),
    Rule("cost_usd", sc.COST_USD, Kind.DECIMAL),
    Rule("price_source", sc.PRICE_SOURCE, Kind.TEXT),
    Rule("ttft_ms", sc.TTFT_MS, Kind.NONNEGATIVE_FLOAT),
    Rule("api_key", sc.API_KEY, Kind.TEXT),
)
#: Columns not backed by an attribute rule (filled from the span itself or its resource).
_SPAN_COLUMNS = frozenset({"ts", "trace_id", "span_id", "duration_ms", "service"})
assert {r.column for r in RULES} | _SPAN_COLUMNS == set(ATTEMPT_SCHEMA.names), "every column has a source"

#: Span-level checks (ids and times come before every attribute check).
ID_SIZES = "trace_id must be 16 bytes and span_id 8 bytes"
SPAN_TIMES = "span times are missing or end before they start"
REQUIRED_REQUEST_ID = f"{sc.REQUEST_ID} is required"

_RULE_KEYS = [r.key for r in RULES]
#: Attribute keys the collector reads: rule i's key at i; the marker is a rule's key or comes last.
_KEYS = pa.array(_RULE_KEYS + ([] if sc.ATTEMPT_MARKER in _RULE_KEYS else [sc.ATTEMPT_MARKER]), pa.string())
_MARKER = _KEYS.to_pylist().index(sc.ATTEMPT_MARKER)
_PLAIN_DECIMAL = r"^[0-9]{1,6}(\.[0-9]{1,9})?$"
_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)
_DECIMAL = pa.decimal128(18, 9)


# --- decoding -------------------------------------------------------------------------------------


def _descriptor() -> Any:
    """The part of OTLP's ExportTraceServiceRequest the collector reads, wire-compatible with
    opentelemetry-proto (same field numbers and wire types; a reader skips fields it does not
    declare). An attribute's AnyValue stays raw bytes (`_Values` reads it as arrays): OTLP's
    AnyValue is recursive, a columnar decoder needs a fixed shape, and decoding it as a struct of
    seven nullable members took twice the time of the rest of the request."""
    f = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(name="routeledger_otlp_subset.proto", package="rlotlp", syntax="proto3")

    def message(name: str, *fields: tuple[str, int, int, bool, str]) -> descriptor_pb2.DescriptorProto:
        proto = file.message_type.add(name=name)
        for field_name, number, kind, repeated, type_name in fields:
            field = proto.field.add(name=field_name, number=number, type=kind)
            field.label = f.LABEL_REPEATED if repeated else f.LABEL_OPTIONAL
            if type_name:
                field.type_name = f".rlotlp.{type_name}"
        return proto

    message("KeyValue", ("key", 1, f.TYPE_STRING, False, ""), ("value", 2, f.TYPE_BYTES, False, ""))
    message("Resource", ("attributes", 1, f.TYPE_MESSAGE, True, "KeyValue"))
    message(
        "Span",
        ("trace_id", 1, f.TYPE_BYTES, False, ""),
        ("span_id", 2, f.TYPE_BYTES, False, ""),
        ("start_time_unix_nano", 7, f.TYPE_FIXED64, False, ""),
        ("end_time_unix_nano", 8, f.TYPE_FIXED64, False, ""),
        ("attributes", 9, f.TYPE_MESSAGE, True, "KeyValue"),
    )
    message("ScopeSpans", ("spans", 2, f.TYPE_MESSAGE, True, "Span"))
    message(
        "ResourceSpans",
        ("resource", 1, f.TYPE_MESSAGE, False, "Resource"),
        ("scope_spans", 2, f.TYPE_MESSAGE, True, "ScopeSpans"),
    )
    message("ExportTraceServiceRequest", ("resource_spans", 1, f.TYPE_MESSAGE, True, "ResourceSpans"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return pool.FindMessageTypeByName("rlotlp.ExportTraceServiceRequest")


_REQUEST = _descriptor()
_HANDLER = ptars.HandlerPool([_REQUEST.file]).get_for_message(_REQUEST)


def decode(body: bytes) -> pa.StructArray:
    """The request's spans, flattened (one struct per span), with `service` from their resource."""
    try:
        batch = _HANDLER.list_to_record_batch([body])
    except Exception as exc:  # ptars raises its own error types for malformed wire data
        raise OtlpDecodeError(f"the body is not a protobuf OTLP trace request: {exc}") from None
    resources = batch.column(0)
    rs = pc.list_flatten(resources)
    scopes_list = rs.field("scope_spans")
    scopes = pc.list_flatten(scopes_list)
    spans_list = scopes.field("spans")
    spans = pc.list_flatten(spans_list)
    # Each span's resource, through its scope.
    span_resource = _np(pc.list_parent_indices(scopes_list)).take(_np(pc.list_parent_indices(spans_list)))
    services = _resource_services(rs)
    service = services.take(pa.array(span_resource, pa.int64())) if len(spans) else pa.array([], pa.string())
    return pa.StructArray.from_arrays([spans, service], names=["span", "service"])


def _resource_services(rs: pa.StructArray) -> pa.Array:
    """`service.name` of each resource (the last string one; '' if none), cut to MAX_LABEL."""
    attrs_list = rs.field("resource").field("attributes")
    attrs = pc.list_flatten(attrs_list)
    owner = _np(pc.list_parent_indices(attrs_list))
    text = _Values(attrs.field("value")).string
    found = np.flatnonzero(_np(pc.and_(pc.equal(attrs.field("key"), sc.SERVICE_NAME), text.is_valid())))
    pick = np.full(len(rs), -1, np.int64)
    pick[owner[found]] = found
    names = text.take(pa.array(pick, mask=pick < 0))
    return pc.utf8_slice_codeunits(pc.fill_null(names, ""), 0, MAX_LABEL)


# --- extraction -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Extracted:
    rows: pa.Table  # valid attempt rows, ATTEMPT_SCHEMA
    keys: bytes  # their span keys (trace id + span id), KEY_BYTES each, in row order
    skipped: int = 0  # not attempt spans (request spans, foreign spans)
    rejected: int = 0
    first_rejection: str = ""


class _Failures:
    """Which attempt spans failed, and for the report, each failure's spans, rank and message."""

    def __init__(self, spans: int) -> None:
        self.failed = np.zeros(spans, bool)
        self.found: list[tuple[np.ndarray, int, str]] = []

    def add(self, span: np.ndarray, order: int, bad: np.ndarray, message: str) -> None:
        """`order` ranks the check: the report names the first rejected span's lowest-ranked failure."""
        if bad.any():
            self.failed[span[bad]] = True
            self.found.append((span[bad], order, message))

    def first_message(self) -> str:
        """The message of the first rejected span's first failure (span checks, then columns in order)."""
        first = int(np.flatnonzero(self.failed)[0])
        failing = [(order, message) for span, order, message in self.found if (span == first).any()]
        return min(failing, key=lambda f: f[0])[1] if failing else ""


def extract(body: bytes) -> Extracted:
    """Validated attempt rows of one protobuf OTLP request; malformed attempt spans rejected alone."""
    decoded = decode(body)
    spans: pa.StructArray = decoded.field("span")
    n = len(spans)
    attrs_list = spans.field("attributes")
    attrs = pc.list_flatten(attrs_list)
    owner = _np(pc.list_parent_indices(attrs_list)).astype(np.int64)
    rule_of = _np(pc.fill_null(pc.index_in(attrs.field("key"), value_set=_KEYS), -1)).astype(np.int64)
    attempt = np.zeros(n, bool)
    attempt[owner[rule_of == _MARKER]] = True
    values = _Values(attrs.field("value"))
    # Attributes grouped by rule once (a stable sort keeps their order within a span).
    order = np.argsort(rule_of.astype(np.int16), kind="stable")  # radix sort for small integers
    bounds = np.searchsorted(rule_of[order], np.arange(len(_KEYS) + 1))
    # Only attempt spans are judged (a foreign span with odd attributes is not ours), and an
    # empty value counts as absent.
    judged = attempt[owner] & values.present
    failures = _Failures(n)
    found: list[np.ndarray] = []
    for number, rule in enumerate(RULES):
        at = order[bounds[number] : bounds[number + 1]]
        at = at[judged[at]]
        found.append(at)
        _check(rule, number, values, at, owner[at], failures)
    every = _Rows(owner, np.arange(n), n)
    request_id = pc.fill_null(values.string.take(every.pick(found[_REQUEST_ID_RULE])), "")
    _span_checks(spans, request_id, attempt, failures)
    keep = np.flatnonzero(attempt & ~failures.failed)
    columns = _columns(values, found, _Rows(owner, keep, n))
    rows, keys = _rows(spans, decoded.field("service"), columns, keep)
    rejected = int((attempt & failures.failed).sum())
    return Extracted(
        rows=rows,
        keys=keys,
        skipped=int(n - attempt.sum()),
        rejected=rejected,
        first_rejection=failures.first_message() if rejected else "",
    )


class _Values:
    """Attribute values (OTLP AnyValue messages, raw bytes) read as arrays: one array per kind,
    null where the value is another kind, plus what every check needs, for all attributes of the
    request at once. A value is one protobuf field: a tag byte, then a varint (bool, int), eight
    bytes (double) or a varint length and the payload (string, array, key-value list, bytes)."""

    def __init__(self, raw: pa.Array) -> None:
        raw = pc.fill_null(raw, b"")
        scan = _scan(raw)
        odd = np.flatnonzero(scan.odd)
        if len(odd):  # several fields, unknown ones, long varints: let the official message say
            raw = pc.replace_with_mask(
                raw, pa.array(scan.odd), pa.array(_canonical(raw.take(pa.array(odd))), pa.binary())
            )
            scan = _scan(raw)
        kind = np.where(scan.odd, _OTHER, scan.kind)
        self.present = kind != _NONE  # a kind is set (an empty AnyValue counts as absent)
        self.is_string = kind == _STRING
        self.is_int = kind == _INT
        data = scan.data
        self.string: pa.Array = _payloads(raw, scan.head, self.is_string, pa.string())
        self._raw, self._scan, self._kind = raw, scan, kind
        self.int_values = scan.number.view(np.int64)
        self.int: pa.Array = pa.array(self.int_values, pa.int64(), mask=~self.is_int)
        is_double = kind == _DOUBLE
        doubles = np.zeros(len(kind), np.float64)
        if is_double.any():
            at = scan.start[is_double] + 1
            doubles[is_double] = data[at[:, None] + np.arange(8)].copy().view("<f8").ravel()
        self.doubles, self.is_double = doubles, is_double
        self.double: pa.Array = pa.array(doubles, pa.float64(), mask=~is_double)
        # The truth of any kind: non-empty payload, non-zero number; a field we do not know is true.
        truth = np.where(_VARINT[kind], scan.number != 0, scan.length > 0)
        truth = np.where(is_double, doubles != 0, truth) | (kind == _OTHER)
        self.truth = truth
        self._costs: tuple[pa.Array, np.ndarray] | None = None

    def costs(self, at: np.ndarray) -> tuple[pa.Array, np.ndarray]:
        """The cost rule's values (read once: checked first, then written)."""
        if self._costs is None:
            self._costs = _decimals(self, at)
        return self._costs

    def too_long(self, at: np.ndarray, limit: int) -> np.ndarray:
        """Which string values at `at` have more than `limit` characters. Characters never
        outnumber bytes, so only values of more than `limit` bytes are counted."""
        out: np.ndarray = self.is_string[at] & (self._scan.length[at] > limit)
        if out.any():
            suspects = np.flatnonzero(out)
            chars = _np(pc.utf8_length(self.string.take(pa.array(at[suspects], pa.int64()))))
            out[suspects] = chars > limit
        return out

    def arrays(self, index: pa.Array) -> pa.Array:
        """The ArrayValue messages of the array values at `index` (null elsewhere)."""
        raw = self._raw.take(index)
        picked = _np(pc.fill_null(index, 0))
        chosen = (self._kind[picked] == _ARRAY) & _np(index.is_valid())
        return _payloads(raw, self._scan.head[picked], chosen, pa.binary())


_NONE, _STRING, _BOOL, _INT, _DOUBLE, _ARRAY, _KVLIST, _BYTES, _OTHER = range(9)
#: First byte of a one-field AnyValue → its kind (field number << 3 | wire type).
_TAGS = np.full(256, _OTHER, np.int8)
_TAGS[[0x0A, 0x10, 0x18, 0x21, 0x2A, 0x32, 0x3A]] = [_STRING, _BOOL, _INT, _DOUBLE, _ARRAY, _KVLIST, _BYTES]
#: Bytes a varint may take per kind (lengths up to 2^35 bytes, full 64-bit numbers); 0 = none.
_VARINT_LIMIT = np.zeros(9, np.int8)
_VARINT_LIMIT[[_STRING, _ARRAY, _KVLIST, _BYTES]] = 5
_VARINT_LIMIT[[_BOOL, _INT]] = 10
_DELIMITED = np.isin(np.arange(9), [_STRING, _ARRAY, _KVLIST, _BYTES])
_VARINT = np.isin(np.arange(9), [_BOOL, _INT])


@dataclass(frozen=True, slots=True)
class _Scan:
    data: np.ndarray  # the values' bytes
    start: np.ndarray  # where each value starts in data
    kind: np.ndarray
    head: np.ndarray  # bytes before the payload (tag + length varint) of length-delimited kinds
    length: np.ndarray  # payload bytes of length-delimited kinds
    number: np.ndarray  # varint of bool and int kinds, as uint64
    odd: np.ndarray  # not exactly one well-formed field of a known kind


def _scan(raw: pa.Array) -> _Scan:
    n = len(raw)
    offsets = np.frombuffer(raw.buffers()[1], np.int32, n + 1, raw.offset * 4)
    data = np.frombuffer(raw.buffers()[2] or b"\0", np.uint8)
    start, size = offsets[:-1], np.diff(offsets)
    empty = size == 0
    kind = _TAGS[data[np.minimum(start, len(data) - 1)]]
    kind[empty] = _NONE
    delimited = _DELIMITED[kind]
    varint = _VARINT[kind]
    number, used = _varints(data, start + 1, _VARINT_LIMIT[kind])
    head = np.where(delimited, 1 + used, 0)
    length = np.where(delimited, number.astype(np.int64), 0)
    well_formed = (used > 0) & np.where(delimited, head + length == size, 1 + used == size)
    well_formed |= ((kind == _DOUBLE) & (size == 9)) | empty
    number[~varint] = 0
    return _Scan(data, start, kind, head, length, number, ~well_formed)


def _varints(data: np.ndarray, at: np.ndarray, limit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The varint at each position (at most `limit` bytes): value (uint64) and bytes used (0: none).
    Most are one byte (short strings, small numbers); only the others go through the byte loop."""
    last = len(data) - 1
    first = data[np.minimum(at, last)]
    value = first.astype(np.uint64)
    used = ((limit > 0) & (first < 0x80)).astype(np.int64)
    longer = np.flatnonzero((limit > 1) & (first >= 0x80))
    if len(longer):
        rest_value = np.zeros(len(longer), np.uint64)
        rest_used = np.zeros(len(longer), np.int64)
        open_ = np.ones(len(longer), bool)
        for k in range(int(limit[longer].max())):
            reading = open_ & (k < limit[longer])
            byte = data[np.minimum(at[longer] + k, last)].astype(np.uint64)
            rest_value |= np.where(reading, (byte & np.uint64(0x7F)) << np.uint64(7 * k), np.uint64(0))
            ended = reading & (byte < 0x80)
            rest_used[ended] = k + 1
            open_ &= ~ended
        value[longer] = rest_value
        used[longer] = rest_used
    return value, used


def _payloads(raw: pa.Array, heads: np.ndarray, chosen: np.ndarray, type_: pa.DataType) -> pa.Array:
    """The payloads of the chosen values (null elsewhere): each is the value's tail after its head
    (tag + length varint), sliced in C per head size; text must be UTF-8, as protobuf requires."""
    out: pa.Array | None = None
    for head in range(2, 7):
        mask = chosen & (heads == head)
        if not mask.any():
            continue
        tails = pc.binary_slice(raw, head, 1 << 30)
        out = tails if out is None else pc.if_else(pa.array(mask), tails, out)
    if out is None:
        return pa.nulls(len(raw), type_)
    validity = pa.py_buffer(np.packbits(chosen, bitorder="little"))
    out = pa.Array.from_buffers(pa.binary(), len(out), [validity, *out.buffers()[1:]], offset=0)
    if type_ != pa.string():
        return out
    try:
        return out.cast(pa.string())
    except pa.ArrowInvalid:
        raise OtlpDecodeError("the body is not a protobuf OTLP trace request: a string value is not UTF-8") from None


def _canonical(values: pa.Array) -> list[bytes]:
    """Values in an unusual encoding re-encoded by the official message (one field, or none)."""
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue

    out = []
    for raw in values.to_pylist():
        try:
            out.append(AnyValue.FromString(raw).SerializeToString())
        except DecodeError:
            raise OtlpDecodeError(
                "the body is not a protobuf OTLP trace request: a malformed attribute value"
            ) from None
    return out


_REQUEST_ID_RULE = next(i for i, r in enumerate(RULES) if r.key == sc.REQUEST_ID)


def _check(rule: Rule, order: int, values: _Values, at: np.ndarray, span: np.ndarray, failures: _Failures) -> None:
    """Mark the spans whose attribute for this rule is malformed."""
    if rule.kind is Kind.TEXT:
        failures.add(span, order, ~values.is_string[at], f"{rule.key} must be a string")
        failures.add(span, order, values.too_long(at, rule.limit), f"{rule.key} is longer than {rule.limit} characters")
    elif rule.kind is Kind.INT:
        failures.add(span, order, ~values.is_int[at], f"{rule.key} must be an integer")
        number = values.int_values[at]
        out = values.is_int[at] & ((number < rule.low) | (number > rule.high))
        failures.add(span, order, out, f"{rule.key} must be between {rule.low} and {rule.high}")
    elif rule.kind is Kind.DECIMAL:
        failures.add(
            span, order, values.costs(at)[1], f"{sc.COST_USD} must be a decimal between 0 and {MAX_ATTEMPT_COST}"
        )


class _Rows:
    """The output rows (a subset of the spans) and, per rule, which attribute fills each row."""

    def __init__(self, owner: np.ndarray, rows: np.ndarray, n: int) -> None:
        self.owner = owner
        self.count = len(rows)
        self.row_of = np.full(n, -1, np.int64)
        self.row_of[rows] = np.arange(len(rows), dtype=np.int64)

    def chosen(self, at: np.ndarray) -> np.ndarray:
        """For each row, the position in `at` of its attribute (the last one wins), -1 if none."""
        target = self.row_of[self.owner[at]]
        chosen = np.full(self.count, -1, np.int64)
        mine = target >= 0
        chosen[target[mine]] = np.flatnonzero(mine)
        return chosen

    def pick(self, at: np.ndarray) -> pa.Array:
        """For each row, the attribute index from `at` (null if none): indices for a take."""
        chosen = self.chosen(at)
        return pa.array(np.where(chosen >= 0, at[np.maximum(chosen, 0)] if len(at) else 0, -1), mask=chosen < 0)


def _columns(values: _Values, found: list[np.ndarray], rows: _Rows) -> dict[str, pa.Array]:
    """Every rule's column for the output rows: its value where the attribute is set, else the
    default. Text columns come from one take (one pass over the strings, not one per column);
    numbers and truths are read with numpy."""
    columns: dict[str, pa.Array] = {}
    texts = [(rule, at) for rule, at in zip(RULES, found, strict=True) if rule.kind is Kind.TEXT]
    if texts:
        taken = pc.fill_null(values.string.take(pa.concat_arrays([rows.pick(at) for _, at in texts])), "")
        for position, (rule, _) in enumerate(texts):
            columns[rule.column] = taken.slice(position * rows.count, rows.count)
    for rule, at in zip(RULES, found, strict=True):
        if rule.kind is Kind.TEXT:
            continue
        chosen = rows.chosen(at)
        has = chosen >= 0
        index = at[np.maximum(chosen, 0)] if len(at) else np.zeros(rows.count, np.int64)
        target = ATTEMPT_SCHEMA.field(rule.column).type
        if rule.kind is Kind.INT:
            number = np.where(has, values.int_values[index], rule.low)
            columns[rule.column] = pa.array(number.astype(target.to_pandas_dtype()), target)
        elif rule.kind is Kind.BOOL:
            columns[rule.column] = pa.array(has & values.truth[index], pa.bool_())
        elif rule.kind is Kind.NONNEGATIVE_FLOAT:
            number = np.where(values.is_int[index], values.int_values[index].astype(np.float64), values.doubles[index])
            valid = has & (values.is_int[index] | values.is_double[index]) & (number >= 0)
            columns[rule.column] = pa.array(number, pa.float64(), mask=~valid)
        elif rule.kind is Kind.FIRST_TEXT:
            columns[rule.column] = _first_text(values.arrays(rows.pick(at)))
        else:
            costs, _ = values.costs(at)
            taken = costs.take(pa.array(chosen, mask=~has))
            columns[rule.column] = pc.fill_null(taken, Decimal(0)).cast(target)
    return columns


def _first_text(arrays: pa.Array) -> pa.Array:
    """The first element of each OTLP ArrayValue (raw message bytes) as text: '' for an empty
    array, an absent value or one that is not a string. An array of one short string (the usual
    finish reason) is read from the bytes as arrays; anything else through the official message."""
    raw = pc.fill_null(arrays, b"")
    offsets = np.frombuffer(raw.buffers()[1], np.int32, len(raw) + 1, raw.offset * 4).astype(np.int64)
    data = np.frombuffer(raw.buffers()[2] or b"", np.uint8)
    start, size = offsets[:-1], np.diff(offsets)
    head = np.zeros((len(raw), 4), np.int64)
    long_enough = size >= 4
    for i in range(4):
        head[long_enough, i] = data[start[long_enough] + i]
    # ArrayValue{values: [AnyValue{string_value: s}]} with len(s) < 128 is 0x0A, len+2, 0x0A, len, s.
    simple = long_enough & (head[:, 0] == 0x0A) & (head[:, 2] == 0x0A) & (head[:, 3] < 0x80)
    simple &= (head[:, 1] == head[:, 3] + 2) & (size == head[:, 3] + 4)
    text = pc.cast(pc.binary_slice(raw, 4, 1 << 30), pa.string(), safe=False)
    if simple.all():
        return _valid_utf8(text, raw)
    slow = np.flatnonzero(~simple & (size > 0))
    fixed = pc.if_else(pa.array(simple), text, "")
    if len(slow):
        read = [_first_text_slow(item) for item in raw.take(pa.array(slow)).to_pylist()]
        mask = np.zeros(len(raw), bool)
        mask[slow] = True
        fixed = pc.replace_with_mask(fixed, pa.array(mask), pa.array(read, pa.string()))
    return _valid_utf8(fixed, raw)


def _valid_utf8(text: pa.Array, raw: pa.Array) -> pa.Array:
    """Text cast from bytes unchecked; a value that is not UTF-8 is read the slow way instead."""
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return pa.array([_first_text_slow(item) for item in raw.to_pylist()], pa.string())
    return text


def _first_text_slow(raw: bytes) -> str:
    from opentelemetry.proto.common.v1.common_pb2 import ArrayValue

    try:
        values = ArrayValue.FromString(raw).values
    except Exception:
        return ""
    if not values:
        return ""
    first = values[0]
    kind = first.WhichOneof("value")
    return str(getattr(first, kind)) if kind in ("string_value", "int_value", "double_value", "bool_value") else ""


def _decimals(values: _Values, at: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    """Costs (aligned with `at`) as Decimal(18, 9) and which are invalid. Plain decimal strings
    (what the router sends) are converted as arrays; any other form goes through `Decimal` one by
    one, so every form Python accepts (ints, doubles, exponents, more places, rounded half-even)
    is read the same."""
    take = pa.array(at, pa.int64())
    text = values.string.take(take)
    plain = pc.fill_null(pc.match_substring_regex(text, _PLAIN_DECIMAL), False)
    cost = pc.cast(pc.if_else(plain, text, "0"), _DECIMAL)
    rest = np.flatnonzero(~_np(plain))
    bad = np.zeros(len(at), bool)
    if len(rest):
        rest_take = take.take(pa.array(rest))
        raw = zip(
            values.string.take(rest_take).to_pylist(),
            values.int.take(rest_take).to_pylist(),
            values.double.take(rest_take).to_pylist(),
            strict=True,
        )
        read = [_decimal(next((v for v in kinds if v is not None), None)) for kinds in raw]
        bad[rest] = [r is None for r in read]
        mask = np.zeros(len(at), bool)
        mask[rest] = True
        cost = pc.replace_with_mask(cost, pa.array(mask), pa.array([r or Decimal(0) for r in read], _DECIMAL))
    bad |= _np(pc.greater(cost, pa.scalar(MAX_ATTEMPT_COST, _DECIMAL)))
    return cost, bad


def _decimal(raw: object) -> Decimal | None:
    """A cost as Python reads it (None: not a finite, non-negative decimal)."""
    if not isinstance(raw, str | int | float) or isinstance(raw, bool):
        return None
    try:
        cost = Decimal(str(raw))
    except InvalidOperation:
        return None
    if not cost.is_finite() or cost < 0 or cost > MAX_ATTEMPT_COST:
        return None
    return cost.quantize(Decimal("1e-9"))


def _span_checks(spans: pa.StructArray, request_id: pa.Array, attempt: np.ndarray, failures: _Failures) -> None:
    """Ids and times are checked before any attribute; a missing request id ranks with its column."""
    index = np.flatnonzero(attempt)
    take = pa.array(index, pa.int64())
    ids_ok = pc.and_(
        pc.equal(pc.binary_length(spans.field("trace_id").take(take)), 16),
        pc.equal(pc.binary_length(spans.field("span_id").take(take)), 8),
    )
    failures.add(index, -2, ~_np(ids_ok), ID_SIZES)
    start = _np(spans.field("start_time_unix_nano").take(take))
    stop = _np(spans.field("end_time_unix_nano").take(take))
    failures.add(index, -1, (start == 0) | (stop < start), SPAN_TIMES)
    failures.add(index, _REQUEST_ID_RULE, _np(pc.equal(request_id.take(take), "")), REQUIRED_REQUEST_ID)


def _rows(
    spans: pa.StructArray, service: pa.Array, columns: dict[str, pa.Array], keep: np.ndarray
) -> tuple[pa.Table, bytes]:
    take = pa.array(keep, pa.int64())
    trace = _fixed(spans.field("trace_id").take(take), 16)
    span = _fixed(spans.field("span_id").take(take), 8)
    start = _np(spans.field("start_time_unix_nano").take(take)).astype(np.int64)
    stop = _np(spans.field("end_time_unix_nano").take(take)).astype(np.int64)
    derived = {
        "ts": pa.array(start // 1000, pa.int64()).cast(ATTEMPT_SCHEMA.field("ts").type),
        "trace_id": _hex(trace),
        "span_id": _hex(span),
        "duration_ms": pa.array((stop - start) / 1e6, pa.float64()),
        "service": service.take(take),
    }
    arrays = [derived[name] if name in derived else columns[name] for name in ATTEMPT_SCHEMA.names]
    keys = np.hstack([trace, span]).tobytes() if len(keep) else b""
    return pa.Table.from_arrays(arrays, schema=ATTEMPT_SCHEMA), keys


def _fixed(ids: pa.BinaryArray, width: int) -> np.ndarray:
    """Ids known to be `width` bytes each, as an (n, width) uint8 matrix (no per-id Python)."""
    if not len(ids):
        return np.zeros((0, width), np.uint8)
    offsets = np.frombuffer(ids.buffers()[1], np.int32, len(ids) + 1, ids.offset * 4)
    data = np.frombuffer(ids.buffers()[2], np.uint8)[offsets[0] : offsets[-1]]
    return data.reshape(len(ids), width)


def _hex(ids: np.ndarray) -> pa.Array:
    """Lower-case hex text of each row of an (n, width) byte matrix."""
    n, width = ids.shape
    digits = np.empty((n, width * 2), np.uint8)
    digits[:, 0::2] = _HEX[ids >> 4]
    digits[:, 1::2] = _HEX[ids & 15]
    offsets = np.arange(0, n * width * 2 + 1, width * 2, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(digits.tobytes()))


def _np(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(array.to_numpy(zero_copy_only=False))
