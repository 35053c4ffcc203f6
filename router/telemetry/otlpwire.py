"""OTLP/protobuf trace encoding by hand: the bytes of `ExportTraceServiceRequest`, no message objects.

Why: the OTel SDK spends about 110 µs building one attempt span (attribute validation and copying,
locks, context objects) and its OTLP exporter about 260 µs encoding it (a Python protobuf message per
attribute, per value, per span). An attempt span has ~25 attributes and most of their values repeat
(route, model, provider, outcome...), so the encoded `KeyValue` bytes of each (key, value) pair are
cached and a span is mostly a join of cached fragments. The output is standard OTLP: the collector,
and any OTel backend, decode it with the official messages (a test compares field by field).

Wire format reminders (protobuf): tag = field << 3 | wire type; 0 varint, 1 fixed64, 2 length-delimited.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

_pack_q = struct.Struct("<Q").pack
_pack_d = struct.Struct("<d").pack

SPAN_KIND_SERVER = 2
SPAN_KIND_CLIENT = 3
STATUS_CODE_ERROR = 2

#: Distinct (key, value) pairs kept encoded; past it the cache starts over (request ids never repeat).
KV_CACHE_SIZE = 8192


def varint(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _ld(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, payload."""
    return tag + varint(len(payload)) + payload


def any_value(value: Any) -> bytes:
    """The bytes of an `AnyValue` message."""
    if isinstance(value, str):
        return _ld(b"\x0a", value.encode())
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        return b"\x18" + varint(value & 0xFFFFFFFFFFFFFFFF)
    if isinstance(value, float):
        return b"\x21" + _pack_d(value)
    if isinstance(value, list | tuple):
        return _ld(b"\x2a", b"".join(_ld(b"\x0a", any_value(v)) for v in value))
    return _ld(b"\x0a", str(value).encode())


def key_value(key: str, value: Any) -> bytes:
    """The bytes of a `KeyValue` message."""
    return _ld(b"\x0a", key.encode()) + _ld(b"\x12", any_value(value))


class AttributeEncoder:
    """Encoded `KeyValue` fields, cached per (key, type, value)."""

    __slots__ = ("_cache", "_tag")

    def __init__(self, field_tag: bytes) -> None:
        self._tag = field_tag
        self._cache: dict[tuple[str, type, Any], bytes] = {}

    def encode(self, attributes: Mapping[str, Any]) -> bytes:
        cache = self._cache
        parts = []
        for key, value in attributes.items():
            token = (key, value.__class__, value)
            encoded = cache.get(token)
            if encoded is None:
                if len(cache) >= KV_CACHE_SIZE:
                    cache.clear()
                encoded = cache[token] = _ld(self._tag, key_value(key, value))
            parts.append(encoded)
        return b"".join(parts)


_SPAN_ATTRS = AttributeEncoder(b"\x4a")  # Span.attributes = 9
_EVENT_ATTRS = AttributeEncoder(b"\x1a")  # Span.Event.attributes = 3
_ERROR_STATUS = _ld(b"\x7a", b"\x18" + varint(STATUS_CODE_ERROR))  # Span.status = 15, Status.code = 3
_NAMES: dict[str, bytes] = {}


def _name(name: str) -> bytes:
    encoded = _NAMES.get(name)
    if encoded is None:
        if len(_NAMES) >= KV_CACHE_SIZE:
            _NAMES.clear()
        encoded = _NAMES[name] = _ld(b"\x2a", name.encode())  # Span.name = 5
    return encoded


def encode_span(
    trace_id: bytes,
    span_id: bytes,
    parent_span_id: bytes | None,
    name: str,
    kind: int,
    start_ns: int,
    end_ns: int,
    attributes: Mapping[str, Any],
    events: Sequence[tuple[int, str, Mapping[str, Any]]] = (),
    error: bool = False,
) -> bytes:
    """One `Span`, already framed as the `ScopeSpans.spans` field (so a batch is a plain join)."""
    parts = [b"\x0a\x10", trace_id, b"\x12\x08", span_id]
    if parent_span_id:
        parts += (b"\x22\x08", parent_span_id)
    parts += (_name(name), b"\x30", varint(kind), b"\x39", _pack_q(start_ns), b"\x41", _pack_q(end_ns))
    parts.append(_SPAN_ATTRS.encode(attributes))
    for time_ns, event_name, event_attrs in events:
        event = b"\x09" + _pack_q(time_ns) + _ld(b"\x12", event_name.encode()) + _EVENT_ATTRS.encode(event_attrs)
        parts.append(_ld(b"\x5a", event))  # Span.events = 11
    if error:
        parts.append(_ERROR_STATUS)
    return _ld(b"\x12", b"".join(parts))  # ScopeSpans.spans = 2


def request_prefix(resource_attributes: Mapping[str, Any], scope_name: str) -> tuple[bytes, bytes]:
    """(resource bytes, scope bytes) shared by every request this process sends."""
    resource = _ld(b"\x0a", b"".join(_ld(b"\x0a", key_value(k, v)) for k, v in resource_attributes.items()))
    scope = _ld(b"\x0a", _ld(b"\x0a", scope_name.encode()))  # ScopeSpans.scope = 1, name = 1
    return resource, scope


def encode_request(prefix: tuple[bytes, bytes], spans: Iterable[bytes]) -> bytes:
    """An `ExportTraceServiceRequest` with one resource and one scope holding `spans`."""
    resource, scope = prefix
    scope_spans = _ld(b"\x12", scope + b"".join(spans))  # ResourceSpans.scope_spans = 2
    return _ld(b"\x0a", resource + scope_spans)  # ExportTraceServiceRequest.resource_spans = 1
