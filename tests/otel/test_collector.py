"""The live OTLP/HTTP receiver, end to end with the real OpenTelemetry SDK and exporter."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlparse

import pytest
from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from tracelake.jobs.collect import Collector, CollectorError, serve
from tracelake.jobs.context import JobResult
from tracelake.jobs.lake import catalog

T0 = 1_767_225_600_000_000_000
GOAL = "Find a cheap flight to Oslo"


# -- helpers -----------------------------------------------------------------------------------


@dataclass
class Running:
    url: str
    thread: threading.Thread
    stop_event: threading.Event
    results: list[JobResult] = field(default_factory=list)

    def stop(self) -> JobResult:
        self.stop_event.set()
        self.thread.join(60)
        assert not self.thread.is_alive(), "collector did not shut down"
        return self.results[0]


@pytest.fixture
def start_collector(ctx) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(**params) -> Running:
        stop, ready, urls, errors = threading.Event(), threading.Event(), [], []
        results: list[JobResult] = []

        def target() -> None:
            try:
                results.append(
                    serve(ctx, port=0, ready=ready, stop=stop, on_listening=urls.append, **params)
                )
            except BaseException as exc:
                errors.append(exc)
                ready.set()

        thread = threading.Thread(target=target, name="collector-under-test")
        thread.start()
        assert ready.wait(60)
        if errors:
            raise errors[0]
        running = Running(urls[0], thread, stop, results)
        started.append(running)
        return running

    yield start
    for running in started:
        if running.thread.is_alive():
            running.stop()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def post(
    url: str,
    body: bytes,
    content_type: str = "application/json",
    encoding: str | None = None,
    method: str = "POST",
    path: str | None = None,
) -> Answer:
    parsed = urlparse(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    headers = {"Content-Type": content_type}
    if encoding:
        headers["Content-Encoding"] = encoding
    conn.request(method, path or parsed.path, body=body, headers=headers)
    response = conn.getresponse()
    answer = Answer(response.status, dict(response.getheaders()), response.read())
    conn.close()
    return answer


def json_request(*spans: dict) -> bytes:
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": [{"key": "service.name", "value": {"stringValue": "t"}}]
                    },
                    "scopeSpans": [{"scope": {"name": "test"}, "spans": list(spans)}],
                }
            ]
        }
    ).encode()


def tool_span(trace_id: str, span_id: str, tool: str = "lookup", offset_ms: int = 0) -> dict:
    start = T0 + offset_ms * 1_000_000
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "parentSpanId": "b7ad6b7169203331",
        "name": f"execute_tool {tool}",
        "kind": 1,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 5_000_000),
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "execute_tool"}},
            {"key": "gen_ai.tool.name", "value": {"stringValue": tool}},
        ],
    }


def events_by_id(ctx) -> dict[str, dict]:
    events = ctx.lake.read(catalog.BRONZE_EVENTS).to_pylist()
    for event in events:
        event["attributes"] = dict(event["attributes"])
    return {e["event_id"]: e for e in events}


# -- a small fake agent instrumented with the real SDK -----------------------------------------


class BookingError(RuntimeError):
    pass


def run_fake_agent(tracer) -> str:
    """One run: two model calls, a working tool, a failing tool, and a sub-agent."""
    messages = json.dumps([{"role": "user", "parts": [{"type": "text", "content": GOAL}]}])
    with tracer.start_as_current_span(
        "invoke_agent TripBot",
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "TripBot",
            "gen_ai.agent.version": "0.3",
            "gen_ai.input.messages": messages,
        },
    ) as root:
        for turn in (1, 2):
            with tracer.start_as_current_span(
                "chat gpt-4o-mini",
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.usage.input_tokens": 100 * turn,
                    "gen_ai.usage.output_tokens": 10 * turn,
                },
            ):
                pass
        with tracer.start_as_current_span(
            "execute_tool search_flights",
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "search_flights",
                "gen_ai.tool.call.id": "call_1",
                "gen_ai.tool.call.arguments": json.dumps({"to": "OSL"}),
                "gen_ai.tool.call.result": json.dumps({"cheapest_usd": 89}),
            },
        ):
            pass
        try:
            with tracer.start_as_current_span(
                "execute_tool book_flight",
                attributes={
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": "book_flight",
                    "gen_ai.tool.call.id": "call_2",
                },
            ) as span:
                span.set_attribute("error.type", "BookingError")
                raise BookingError("no seats left")
        except BookingError:
            pass
        with (
            tracer.start_as_current_span(
                "invoke_agent Concierge",
                attributes={
                    "gen_ai.operation.name": "invoke_agent",
                    "gen_ai.agent.name": "Concierge",
                },
            ),
            tracer.start_as_current_span(
                "chat claude-haiku",
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.system": "anthropic",  # an older SDK inside the same trace
                    "gen_ai.usage.prompt_tokens": 7,
                    "gen_ai.usage.completion_tokens": 3,
                },
            ),
        ):
            pass
        return format(root.get_span_context().trace_id, "032x")


def test_real_sdk_exporter_end_to_end(ctx, start_collector):
    collector = start_collector(flush_interval_s=0.2)
    provider = TracerProvider(resource=Resource.create({"service.name": "tripbot"}))
    exporter = OTLPSpanExporter(endpoint=collector.url, compression=Compression.Gzip, timeout=30)
    # Small export batches: children arrive before their parents, across several requests.
    provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=3))
    trace_id = run_fake_agent(provider.get_tracer("fake-agent"))
    provider.shutdown()  # exports everything; each export returns once the lake has it
    result = collector.stop()

    events = events_by_id(ctx)
    assert {e["run_id"] for e in events.values()} == {trace_id}
    assert {e["dialect"] for e in events.values()} == {"otel.otlp_http"}
    assert all(e["source_position"].startswith("span:") for e in events.values())
    by_type: dict[str, list[dict]] = {}
    for event in sorted(events.values(), key=lambda e: e["seq"]):
        by_type.setdefault(event["event_type"], []).append(event)

    (started,) = by_type["run_started"]
    (completed,) = by_type["run_completed"]
    assert started["goal"] == GOAL
    assert (started["component_name"], started["component_version"]) == ("TripBot", "0.3")
    assert completed["parent_event_id"] == started["event_id"]
    assert completed["attributes"]["resource.service.name"] == "tripbot"

    chats = by_type["agent_message"]
    tokens = [(c["tokens_in"], c["tokens_out"], c["attributes"]["provider"]) for c in chats]
    assert tokens == [(100, 10, "openai"), (200, 20, "openai"), (7, 3, "anthropic")]
    assert [c["parent_event_id"] for c in chats[:2]] == [started["event_id"]] * 2

    calls = {c["component_name"]: c for c in by_type["tool_call"]}
    results = {r["component_name"]: r for r in by_type["tool_result"]}
    assert set(calls) == set(results) == {"search_flights", "book_flight"}
    assert json.loads(calls["search_flights"]["input"]) == {"to": "OSL"}
    ok = results["search_flights"]
    assert (ok["status"], json.loads(ok["output"])) == ("ok", {"cheapest_usd": 89})
    failed = results["book_flight"]
    assert (failed["status"], failed["error_type"]) == ("error", "BookingError")
    assert "no seats left" in failed["error"]
    for name in calls:
        assert results[name]["parent_event_id"] == calls[name]["event_id"]
        assert calls[name]["parent_event_id"] == started["event_id"]

    (delegation,) = by_type["delegation"]
    assert delegation["component_name"] == "Concierge"
    assert chats[2]["parent_event_id"] == delegation["event_id"]

    ordered = sorted(events.values(), key=lambda e: e["seq"])
    assert ordered[0]["event_id"] == started["event_id"]
    assert ordered[-1]["event_id"] == completed["event_id"]

    assert result.rows_out == len(events) == 10  # 2 run + 3 chat + 2x2 tool + 1 delegation
    runs = ctx.lake.read(catalog.OPS_JOB_RUNS).to_pylist()
    (row,) = [r for r in runs if r["job"] == "collect"]
    assert (row["status"], row["rows_out"]) == ("succeeded", 10)


def test_malformed_bodies_are_400(start_collector):
    url = start_collector().url
    garbage_proto = post(url, b"\xff\xff\xff\xff", "application/x-protobuf")
    assert garbage_proto.status == 400
    from google.rpc import status_pb2  # the status body OTLP prescribes (test-only import)

    status = status_pb2.Status()
    status.ParseFromString(garbage_proto.body)
    assert "protobuf" in status.message

    for body in (b"{not json", b"[1, 2]", b'{"resourceSpans": "nope"}'):
        answer = post(url, body)
        assert answer.status == 400, body
        assert json.loads(answer.body)["message"]
    assert post(url, b"\x1f\x8b\x08\x00garbage", encoding="gzip").status == 400


def test_oversize_bodies_are_413(start_collector):
    url = start_collector(max_body_bytes=4096).url
    big = json_request(
        *[tool_span("4bf92f3577b34da6a3ce929d0e0e4736", f"{i:016x}") for i in range(1, 40)]
    )
    assert len(big) > 4096
    assert post(url, big).status == 413
    # A small gzip body that inflates past the limit is refused too.
    bomb = gzip.compress(b" " * 1_000_000)
    assert len(bomb) < 4096
    assert post(url, bomb, encoding="gzip").status == 413
    # The connection-level limit does not break the receiver for the next request.
    small = json_request(tool_span("4bf92f3577b34da6a3ce929d0e0e4736", "00000000000000aa"))
    assert post(url, small).status == 200


def test_wrong_type_path_and_method(start_collector):
    url = start_collector().url
    assert post(url, b"x", content_type="text/plain").status == 415
    assert post(url, b"{}", encoding="br").status == 415
    assert post(url, b"{}", path="/v1/metrics").status == 404
    answer = post(url, b"", method="GET")
    assert answer.status == 405 and answer.headers["Allow"] == "POST"


def test_partial_success_for_a_request_with_one_bad_span(ctx, start_collector):
    collector = start_collector(flush_interval_s=0.05)
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    good = tool_span(trace, "00f067aa0ba902b7")
    bad = tool_span("zz-not-hex", "53995c3f42cd8ad8")
    answer = post(collector.url, json_request(good, bad))
    assert answer.status == 200
    partial = json.loads(answer.body)["partialSuccess"]
    assert int(partial["rejectedSpans"]) == 1
    assert "zz-not-hex" in partial["errorMessage"]

    # Same over protobuf: a trace id of the wrong length.
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = b"\x01\x02\x03", b"\x01" * 8, "chat x"
    span.start_time_unix_nano = T0
    answer = post(collector.url, request.SerializeToString(), "application/x-protobuf")
    assert answer.status == 200
    response = ExportTraceServiceResponse()
    response.ParseFromString(answer.body)
    assert response.partial_success.rejected_spans == 1
    collector.stop()

    events = events_by_id(ctx)
    assert {e["event_type"] for e in events.values()} == {"tool_call", "tool_result"}
    quarantine = ctx.lake.read(catalog.BRONZE_QUARANTINE).to_pylist()
    assert sorted(q["source_position"] for q in quarantine) == [
        "span:0101010101010101",
        "span:53995c3f42cd8ad8",
    ]
    assert {(q["reason_code"], q["dialect"]) for q in quarantine} == {("bad_id", "otel.otlp_http")}
    proto_raw = next(q for q in quarantine if q["source_position"] == "span:0101010101010101")
    assert json.loads(proto_raw["raw"])["traceId"] == "010203"


def test_successful_answer_is_an_empty_export_response(start_collector):
    url = start_collector(flush_interval_s=0.05).url
    answer = post(
        url, json_request(tool_span("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"))
    )
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/json"
    assert "partialSuccess" not in json.loads(answer.body)
    request = ExportTraceServiceRequest()
    answer = post(url, request.SerializeToString(), "application/x-protobuf")
    assert (
        answer.status == 200
        and MessageToDict(ExportTraceServiceResponse.FromString(answer.body)) == {}
    )


def test_resent_request_is_stored_once(ctx, start_collector):
    collector = start_collector(flush_interval_s=0.05)
    body = json_request(tool_span("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"))
    assert post(collector.url, body).status == 200
    assert post(collector.url, body).status == 200
    result = collector.stop()
    assert (result.rows_out, result.rows_duplicate) == (2, 2)
    assert ctx.lake.count(catalog.BRONZE_EVENTS) == 2


def _post_spans_concurrently(url: str, trace: str, n: int) -> list[int]:
    """POST n one-span requests of one trace from n threads; their statuses."""
    answers: list[int] = []
    threads = [
        threading.Thread(
            target=lambda i=i: answers.append(
                post(url, json_request(tool_span(trace, f"{i + 1:016x}"))).status
            )
        )
        for i in range(n)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers


def test_concurrent_requests_share_one_micro_batch_commit(ctx, start_collector):
    # The interval is far away; the micro-batch commits when it holds max_batch_events rows.
    collector = start_collector(flush_interval_s=3600, max_batch_events=6)
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    assert _post_spans_concurrently(collector.url, trace, 3) == [200, 200, 200]
    result = collector.stop()
    assert result.details["micro_batches"] == 1
    writes = [h for h in ctx.lake.history(catalog.BRONZE_EVENTS) if h.get("operation") == "WRITE"]
    assert len(writes) == 1
    assert ctx.lake.count(catalog.BRONZE_EVENTS) == 6


def test_full_micro_batches_are_grouped_into_one_commit(ctx, start_collector):
    # Each request fills a micro-batch (2 rows); with an hour-long commit interval the ones
    # after the first commit wait as a group until the oldest has waited flush_interval_s.
    collector = start_collector(flush_interval_s=2, max_batch_events=2, commit_interval_s=3600)
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    assert post(collector.url, json_request(tool_span(trace, f"{99:016x}"))).status == 200
    assert _post_spans_concurrently(collector.url, trace, 3) == [200, 200, 200]
    result = collector.stop()
    assert result.details["micro_batches"] == 2
    writes = [h for h in ctx.lake.history(catalog.BRONZE_EVENTS) if h.get("operation") == "WRITE"]
    assert len(writes) == 2
    assert ctx.lake.count(catalog.BRONZE_EVENTS) == 8


def wait_until(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_stop_commits_accepted_spans_before_returning(ctx):
    collector = Collector(ctx, port=0, flush_interval_s=3600)
    collector.start()
    answers: list[Answer] = []
    body = json_request(tool_span("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"))
    sender = threading.Thread(target=lambda: answers.append(post(collector.url, body)))
    sender.start()
    wait_until(lambda: collector.batcher.pending_rows == 2)  # accepted, waiting for a flush
    assert ctx.lake.count(catalog.BRONZE_EVENTS) == 0
    collector.stop()
    sender.join(60)
    assert answers[0].status == 200
    assert ctx.lake.count(catalog.BRONZE_EVENTS) == 2
    # After shutdown nothing listens any more.
    with pytest.raises(OSError):
        post(collector.url, body)


def test_sigterm_flushes_and_records_the_session(ctx, local_settings, tmp_path):
    env = {**os.environ, "TRACELAKE_LAKE_ROOT": local_settings.lake_root}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tracelake.jobs.collect",
            "--port",
            "0",
            "--flush-interval",
            "3600",
            "--verbose",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split()[-1]
        queued = threading.Event()
        log_lines: list[str] = []

        def read_log() -> None:
            for text in proc.stderr:
                log_lines.append(text)
                if "queued 2 row(s)" in text:
                    queued.set()

        threading.Thread(target=read_log, daemon=True).start()
        answers: list[Answer] = []
        body = json_request(tool_span("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"))
        sender = threading.Thread(target=lambda: answers.append(post(url, body)))
        sender.start()
        assert queued.wait(60), "".join(log_lines)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, "".join(log_lines)
        sender.join(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert answers[0].status == 200
    assert ctx.lake.count(catalog.BRONZE_EVENTS) == 2
    (row,) = [r for r in ctx.lake.read(catalog.OPS_JOB_RUNS).to_pylist() if r["job"] == "collect"]
    assert (row["status"], row["rows_out"]) == ("succeeded", 2)


def test_port_in_use_is_a_clear_error(ctx):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CollectorError, match=f"cannot listen on 127.0.0.1:{port}"):
            Collector(ctx, port=port)


def chat_span_with_tokens(trace_id: str, span_id: str, tokens: str) -> dict:
    span = tool_span(trace_id, span_id)
    span["name"] = "chat gpt"
    span["attributes"] = [
        {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
        {"key": "gen_ai.usage.input_tokens", "value": {"intValue": tokens}},
    ]
    return span


def test_span_that_can_never_be_stored_is_quarantined_with_partial_success(ctx, start_collector):
    collector = start_collector(flush_interval_s=0.05)
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    good = chat_span_with_tokens(trace, "00f067aa0ba902b7", "12")
    huge = chat_span_with_tokens(trace, "53995c3f42cd8ad8", "18446744073709551615")
    answer = post(collector.url, json_request(good, huge))
    assert answer.status == 200, answer.body
    assert int(json.loads(answer.body)["partialSuccess"]["rejectedSpans"]) == 1
    collector.stop()
    assert len(events_by_id(ctx)) == 1
    (q,) = ctx.lake.read(catalog.BRONZE_QUARANTINE).to_pylist()
    assert (q["reason_code"], q["source_position"]) == ("out_of_range", "span:53995c3f42cd8ad8")


def _slow_client(url: str, length: int = 1000) -> socket.socket:
    """A client that sends its headers and one byte of a longer body, then nothing."""
    parsed = urlparse(url)
    sock = socket.create_connection((parsed.hostname, parsed.port), timeout=30)
    sock.sendall(
        f"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n{{".encode()
    )
    return sock


def test_slow_clients_do_not_take_the_slots_of_normal_exports(start_collector):
    from tracelake.jobs.collect.server import DEFAULT_MAX_CONCURRENT_REQUESTS

    collector = start_collector(flush_interval_s=0.05)
    slow = [_slow_client(collector.url) for _ in range(DEFAULT_MAX_CONCURRENT_REQUESTS + 4)]
    try:
        time.sleep(0.3)  # the slow clients are connected and waiting on their bodies
        span = tool_span("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
        assert post(collector.url, json_request(span)).status == 200
    finally:
        for sock in slow:
            sock.close()


def test_a_request_has_a_total_deadline(start_collector, monkeypatch):
    from tracelake.jobs.collect.handler import OtlpHandler

    monkeypatch.setattr(OtlpHandler, "REQUEST_DEADLINE_S", 1.0)
    collector = start_collector(flush_interval_s=0.05)
    sock = _slow_client(collector.url)
    try:
        for _ in range(4):  # a byte now and then: each read is quick, the whole is not
            time.sleep(0.4)
            try:
                sock.sendall(b" ")
            except OSError:
                break
        sock.settimeout(10)
        answer = sock.recv(4096)
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
