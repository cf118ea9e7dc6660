"""The OTLP/HTTP request handler: POST /v1/traces, protobuf or JSON, optionally compressed.

Status codes follow the OTLP/HTTP specification: 200 with an ExportTraceServiceResponse (with
partial_success when spans were rejected), 400 for bodies that do not decode (not retryable),
413 over the size limit, 415 for other content types or encodings, 503 with Retry-After when
the receiver cannot take the data now (retryable), 404/405 elsewhere. Error bodies are a
google.rpc.Status in the request's encoding.

A 200 is sent only after the spans' micro-batch is committed to the lake: an exporter that saw
200 never needs to resend, and one that did not will retry, which stable event ids make harmless.
"""

from __future__ import annotations

import logging
import time
import zlib
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING

import orjson

from ..ingest.dialects.otlp import decode_request as decode_json_request
from ..ingest.model import SourceDoc
from ..ingest.normalize import normalize
from ..ingest.otel_mapping import PRODUCER, OtlpDecodeError, map_spans
from .batcher import QueueFullError, ShuttingDownError
from .otlp_proto import decode_request as decode_proto_request
from .otlp_proto import encode_response, encode_status

if TYPE_CHECKING:
    from .server import Collector

log = logging.getLogger("tracelake.collect")

TRACES_PATH = "/v1/traces"
PROTOBUF_TYPES = frozenset({"application/x-protobuf", "application/protobuf"})
JSON_TYPE = "application/json"
# Oversize bodies up to this size are read and dropped before answering 413; larger ones get the
# 413 and a closed connection.
DRAIN_LIMIT = 64 * 1024 * 1024
# google.rpc.Code values for error bodies.
RPC_INVALID_ARGUMENT, RPC_UNAVAILABLE, RPC_INTERNAL = 3, 14, 13


class ReceiverDialect:
    """How events from the live receiver are labelled in bronze."""

    name = "otel.otlp_http"
    producer = PRODUCER


RECEIVER_DIALECT = ReceiverDialect()


class BodyError(Exception):
    """The request body cannot be accepted; carries the HTTP status to answer with."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Accepted:
    spans: int
    rejected_spans: int
    message: str


def decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """Undo Content-Encoding, refusing output over `limit` bytes (a small gzip can expand a lot)."""
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise BodyError(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            f"Content-Encoding {encoding!r} is not supported; use gzip, deflate or none",
        )
    wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
    decoder = zlib.decompressobj(wbits)
    try:
        out = decoder.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BodyError(HTTPStatus.BAD_REQUEST, f"body is not valid {encoding}: {exc}") from None
    if len(out) > limit:
        raise BodyError(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"decompressed body exceeds {limit} bytes; send smaller batches",
        )
    if not decoder.eof:
        raise BodyError(HTTPStatus.BAD_REQUEST, f"{encoding} body is truncated")
    return out


def decode_spans(body: bytes, as_json: bool) -> list:
    if not as_json:
        return list(decode_proto_request(body))
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OtlpDecodeError(f"body is not valid JSON: {exc}") from None
    return list(decode_json_request(obj))


class OtlpHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: exporters reuse their connection
    server_version = "tracelake-collect"
    timeout = 60  # seconds a client may stall mid-request before its connection is closed
    REQUEST_DEADLINE_S = 30.0  # the whole body must arrive within this
    server: Collector.HttpServer  # type: ignore[name-defined]

    # -- routing ---------------------------------------------------------------------------

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0] != TRACES_PATH:
            self._refuse_path()
            return
        collector = self.server.collector
        as_json = self._media_type() == JSON_TYPE
        try:
            # The body is read before a concurrency slot is taken: a client that sends slowly
            # holds only its own connection, never a slot other exporters need.
            body = self._receive(collector)
        except BodyError as exc:
            self._status(exc.status, str(exc), as_json)
            return
        try:
            collector.begin_request()
        except (ShuttingDownError, QueueFullError) as exc:
            self._status(HTTPStatus.SERVICE_UNAVAILABLE, str(exc), as_json, retry_after=True)
            return
        try:
            self._export(collector, as_json, body)
        finally:
            collector.end_request()

    def do_GET(self) -> None:
        self._refuse_path()

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def _refuse_path(self) -> None:
        if self.path.split("?", 1)[0] == TRACES_PATH:
            self._status(HTTPStatus.METHOD_NOT_ALLOWED, "use POST", False, extra={"Allow": "POST"})
        else:
            self._status(
                HTTPStatus.NOT_FOUND, f"no such endpoint; traces go to {TRACES_PATH}", False
            )

    # -- export ----------------------------------------------------------------------------

    def _media_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()

    def _receive(self, collector: Collector) -> bytes:
        media = self._media_type()
        if media != JSON_TYPE and media not in PROTOBUF_TYPES:
            raise BodyError(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                f"Content-Type {media or '(none)'!r} is not supported; send "
                "application/x-protobuf or application/json",
            )
        return self._read_body(collector.max_body_bytes)

    def _export(self, collector: Collector, as_json: bool, body: bytes) -> None:
        try:
            accepted = self._accept(collector, as_json, body)
        except BodyError as exc:
            self._status(exc.status, str(exc), as_json)
            return
        except OtlpDecodeError as exc:
            self._status(HTTPStatus.BAD_REQUEST, str(exc), as_json)
            return
        except (QueueFullError, ShuttingDownError, TimeoutError) as exc:
            self._status(HTTPStatus.SERVICE_UNAVAILABLE, str(exc), as_json, retry_after=True)
            return
        except Exception as exc:
            log.exception("export request failed")
            self._status(
                HTTPStatus.SERVICE_UNAVAILABLE,
                f"could not store spans: {exc}",
                as_json,
                retry_after=True,
            )
            return
        body = encode_response(accepted.rejected_spans, accepted.message, as_json)
        content_type = JSON_TYPE if as_json else "application/x-protobuf"
        self._send(HTTPStatus.OK, body, content_type)

    def _accept(self, collector: Collector, as_json: bool, body: bytes) -> Accepted:
        encoding = (self.headers.get("Content-Encoding") or "").strip().lower()
        body = decompress(body, encoding, collector.max_body_bytes)
        spans = decode_spans(body, as_json)
        collector.stats.add_request(len(body))
        if not spans:
            return Accepted(0, 0, "")
        mapped = map_spans(spans, dialect=RECEIVER_DIALECT.name, source_uri=collector.url)
        doc = SourceDoc(collector.url, b"")
        batch = normalize(mapped.items, RECEIVER_DIALECT, doc, collector.session_id)
        # A span is rejected when any record it produced was (events failing validation in
        # normalize included): count distinct spans, never records.
        rejected_positions = set(batch.quarantine["source_position"].to_pylist())
        rejected = min(mapped.spans, max(mapped.rejected_spans, len(rejected_positions)))
        ticket = collector.batcher.submit(batch)
        log.info("queued %d row(s) from %d span(s)", ticket.rows, mapped.spans)
        if not ticket.wait(collector.ack_timeout_s):
            raise TimeoutError("the lake did not confirm the write in time; retry")
        if ticket.error is not None:
            raise ticket.error
        collector.stats.add_spans(mapped.spans, rejected)
        message = ""
        if rejected:
            message = (
                f"{rejected} of {mapped.spans} span(s) rejected "
                f"(first: {mapped.first_rejection}); they are kept in bronze.quarantine"
            )
        return Accepted(mapped.spans, rejected, message)

    def _read_body(self, limit: int) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            raise BodyError(HTTPStatus.LENGTH_REQUIRED, "send Content-Length, not chunked bodies")
        try:
            length = int(self.headers.get("Content-Length") or "")
        except ValueError:
            self.close_connection = True
            raise BodyError(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required") from None
        if length < 0:
            self.close_connection = True
            raise BodyError(HTTPStatus.BAD_REQUEST, "negative Content-Length")
        if length > limit:
            self._discard(length)
            raise BodyError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"body is {length} bytes, over the {limit}-byte limit; send smaller batches",
            )
        return self._read_within_deadline(length)

    def _read_within_deadline(self, length: int) -> bytes:
        """Read `length` bytes within REQUEST_DEADLINE_S in all: a per-read timeout alone lets
        a client that sends a byte now and then hold the connection for ever."""
        deadline = time.monotonic() + self.REQUEST_DEADLINE_S
        parts: list[bytes] = []
        left = length
        while left > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.close_connection = True
                raise BodyError(
                    HTTPStatus.REQUEST_TIMEOUT,
                    f"body not received within {self.REQUEST_DEADLINE_S:g} s; send it at once",
                )
            self.connection.settimeout(min(remaining, self.timeout))
            try:
                chunk = self.rfile.read1(min(left, 1 << 16))
            except TimeoutError:
                continue  # the deadline check above answers
            if not chunk:
                self.close_connection = True
                raise BodyError(HTTPStatus.BAD_REQUEST, "body is shorter than Content-Length")
            parts.append(chunk)
            left -= len(chunk)
        self.connection.settimeout(self.timeout)
        return b"".join(parts)

    def _discard(self, length: int) -> None:
        """Read and drop an oversize body in small chunks, so the client sees the 413 instead of
        a reset connection; past DRAIN_LIMIT bytes, close the connection instead."""
        if length > DRAIN_LIMIT:
            self.close_connection = True
            return
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 16))
            if not chunk:
                self.close_connection = True
                return
            length -= len(chunk)

    # -- answers ---------------------------------------------------------------------------

    def _status(
        self,
        status: HTTPStatus,
        message: str,
        as_json: bool,
        *,
        retry_after: bool = False,
        extra: dict[str, str] | None = None,
    ) -> None:
        code = RPC_UNAVAILABLE if status == HTTPStatus.SERVICE_UNAVAILABLE else RPC_INVALID_ARGUMENT
        headers = dict(extra or {})
        if retry_after:
            headers["Retry-After"] = str(self.server.collector.retry_after_s)
        content_type = JSON_TYPE if as_json else "application/x-protobuf"
        self._send(status, encode_status(code, message, as_json), content_type, headers)

    def _send(
        self,
        status: HTTPStatus,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        if self.server.collector.stopping:
            self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)
