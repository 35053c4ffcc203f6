"""OTLP/HTTP trace requests: protobuf or JSON, optionally gzip-compressed, decoded with the
official `opentelemetry-proto` messages.

OTLP/JSON differs from protobuf's canonical JSON in one place: trace and span ids are hex strings,
not base64, so they are converted before the standard parser runs.
"""

from __future__ import annotations

import base64
import zlib
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


class OtlpDecodeError(ValueError):
    """The body is not a valid OTLP trace request; the message says why (sent back with a 400)."""


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo Content-Encoding, refusing bodies that inflate past `limit` bytes (zip bombs)."""
    encoding = (encoding or "identity").lower()
    if encoding == "identity":
        return body
    if encoding not in ("gzip", "deflate"):
        raise OtlpDecodeError(f"unsupported Content-Encoding {encoding!r} (use gzip or none)")
    wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise OtlpDecodeError(f"the body is not valid {encoding}: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise BodyTooLarge(limit)
    return out


class BodyTooLarge(OtlpDecodeError):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"the request body exceeds {limit} bytes")


def decode_request(body: bytes, content_type: str | None) -> ExportTraceServiceRequest:
    media = (content_type or PROTOBUF).split(";")[0].strip().lower()
    request = ExportTraceServiceRequest()
    if media == JSON:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise OtlpDecodeError(f"the body is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise OtlpDecodeError("the JSON body must be an object with resourceSpans")
        try:
            json_format.ParseDict(_hex_ids_to_base64(data), request, ignore_unknown_fields=True)
        except (json_format.ParseError, ValueError, TypeError) as exc:
            raise OtlpDecodeError(f"the JSON body is not an OTLP trace request: {exc}") from None
        return request
    if media in (PROTOBUF, "application/protobuf", "application/octet-stream"):
        try:
            request.ParseFromString(body)
        except (DecodeError, ValueError) as exc:
            raise OtlpDecodeError(f"the body is not a protobuf OTLP trace request: {exc}") from None
        return request
    raise OtlpDecodeError(f"unsupported Content-Type {media!r} (use {PROTOBUF} or {JSON})")


def protobuf_body(body: bytes, content_type: str | None) -> bytes:
    """The request as protobuf bytes: as sent when it is protobuf (the collector's decoder reads
    the wire format itself), re-encoded once when it came as OTLP/JSON."""
    media = (content_type or PROTOBUF).split(";")[0].strip().lower()
    if media in (PROTOBUF, "application/protobuf", "application/octet-stream"):
        return body
    return bytes(decode_request(body, content_type).SerializeToString())


def encode_response(content_type: str | None, rejected: int = 0, message: str = "") -> tuple[bytes, str]:
    """The OTLP success answer in the request's encoding, with partial_success when spans were rejected."""
    response = ExportTraceServiceResponse()
    if rejected:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    media = (content_type or PROTOBUF).split(";")[0].strip().lower()
    if media == JSON:
        return orjson.dumps(json_format.MessageToDict(response)), JSON
    return response.SerializeToString(), PROTOBUF


_ID_KEYS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


def _hex_ids_to_base64(data: dict[str, Any]) -> dict[str, Any]:
    for resource_spans in data.get("resourceSpans") or data.get("resource_spans") or ():
        for scope_spans in resource_spans.get("scopeSpans") or resource_spans.get("scope_spans") or ():
            for span in scope_spans.get("spans") or ():
                _convert_ids(span)
                for link in span.get("links") or ():
                    _convert_ids(link)
    return data


def _convert_ids(obj: dict[str, Any]) -> None:
    for key in _ID_KEYS:
        value = obj.get(key)
        if isinstance(value, str) and value:
            try:
                obj[key] = base64.b64encode(bytes.fromhex(value)).decode()
            except ValueError:
                raise OtlpDecodeError(f"{key} {value[:40]!r} is not a hex string") from None
