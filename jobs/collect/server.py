"""`tracelake collect`: a live OTLP/HTTP trace receiver that appends to bronze in micro-batches.

    exporter --POST /v1/traces--> OtlpHandler (decode, map spans, normalize)
             --submit--> MicroBatcher --one micro-batch per flush--> BronzeWriter --> bronze.*

One `serve()` call is one job run: it records a single ops.job_runs row when it stops, with the
session's totals and the last table versions it wrote. A row per flush would add a Delta commit
to ops.job_runs every second under steady load, doubling the commit rate for bookkeeping that
bronze's own commit metadata (job, batch_id) already carries.

Shutdown (SIGINT/SIGTERM, or the `stop` event): stop accepting connections, let requests in
flight finish (each waits for its micro-batch), commit whatever is still pending, then record the
job run. Every span answered with 200 is in the lake before serve() returns.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

from ..context import JobContext, JobResult, recorded_job_run
from ..errors import TracelakeError
from ..ingest.normalize import ParsedBatch
from ..ingest.writer import BronzeWriter, CommitOutcome
from .batcher import MicroBatcher, QueueFullError, ShuttingDownError
from .handler import OtlpHandler

log = logging.getLogger("tracelake.collect")

JOB_NAME = "collect"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4318
DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024  # the OpenTelemetry Collector's default, too
DEFAULT_MAX_CONCURRENT_REQUESTS = 16
COMMIT_ATTEMPTS = 3


class CollectorError(TracelakeError):
    """The receiver cannot start (bad parameters, address in use, lake unreachable)."""


@dataclass
class CollectStats:
    """Session totals, updated from request threads and the flusher."""

    requests: int = 0
    body_bytes: int = 0
    spans: int = 0
    rejected_spans: int = 0
    micro_batches: int = 0
    failed_micro_batches: int = 0
    rows_in: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    versions_written: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_request(self, body_bytes: int) -> None:
        with self._lock:
            self.requests += 1
            self.body_bytes += body_bytes

    def add_spans(self, spans: int, rejected: int) -> None:
        with self._lock:
            self.spans += spans
            self.rejected_spans += rejected

    def add_commit(self, rows: int, outcome: CommitOutcome) -> None:
        with self._lock:
            self.rows_in += rows
            self.stored += outcome.stored
            self.duplicates += outcome.duplicates
            self.quarantined += outcome.quarantined
            self.versions_written.update(outcome.versions_written)

    def next_micro_batch(self) -> int:
        with self._lock:
            self.micro_batches += 1
            return self.micro_batches

    def add_failure(self) -> None:
        with self._lock:
            self.failed_micro_batches += 1

    def summary(self) -> dict[str, Any]:
        with self._lock:
            summary = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
            summary["versions_written"] = dict(self.versions_written)
            return summary


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _HttpServer(ThreadingHTTPServer):
    # Idle keep-alive connections must not keep the process alive; requests in flight are
    # tracked by the collector instead and drained before shutdown completes.
    daemon_threads = True
    collector: Collector

    def handle_error(self, request: object, client_address: object) -> None:
        """One line per failed connection, not socketserver's traceback on stderr: a client
        that hangs up mid-request (a short body, a closed socket) is routine for a server."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError):
            log.info("client %s went away: %s", client_address, exc)
            return
        log.warning("request from %s failed: %s: %s", client_address, type(exc).__name__, exc)
        log.debug("request failure detail", exc_info=True)


class _HttpServer6(_HttpServer):
    address_family = socket.AF_INET6


class Collector:
    """The receiver's moving parts; `serve()` runs one for a session."""

    HttpServer = _HttpServer

    def __init__(
        self,
        ctx: JobContext,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        flush_interval_s: float = 1.0,
        max_batch_events: int = 10_000,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_concurrent_requests: int = DEFAULT_MAX_CONCURRENT_REQUESTS,
        commit_interval_s: float = 0.0,
    ) -> None:
        if not 0 <= port <= 65535:
            raise CollectorError(f"--port {port} is not a TCP port (0-65535)")
        if flush_interval_s <= 0:
            raise CollectorError(f"flush interval must be > 0 seconds, not {flush_interval_s}")
        if max_batch_events < 1 or max_body_bytes < 1 or max_concurrent_requests < 1:
            raise CollectorError("max_batch_events, max_body_bytes and concurrency must be >= 1")
        self.ctx = ctx
        self.session_id = uuid.uuid4().hex
        self.max_body_bytes = max_body_bytes
        self.flush_interval_s = flush_interval_s
        self.retry_after_s = max(1, round(flush_interval_s))
        # A request waits for its micro-batch's commit; beyond this it gets a retryable 503.
        self.ack_timeout_s = max(30.0, 10 * flush_interval_s)
        self.stats = CollectStats()
        self.stopping = False
        self._inflight = 0
        self._inflight_cond = threading.Condition()
        self._slots = threading.BoundedSemaphore(max_concurrent_requests)
        self._writer: BronzeWriter | None = None
        self._server_thread: threading.Thread | None = None
        self.batcher = MicroBatcher(
            self._commit,
            flush_interval_s=flush_interval_s,
            max_batch_rows=max_batch_events,
            enqueue_timeout_s=max(5.0, 2 * flush_interval_s),
            commit_interval_s=commit_interval_s,
        )
        server_cls = _HttpServer6 if ":" in host else _HttpServer
        try:
            self.httpd = server_cls((host, port), OtlpHandler)
        except OSError as exc:
            raise CollectorError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}; is another collector "
                "running there? pick another --port"
            ) from None
        self.httpd.collector = self
        bound_host, bound_port = self.httpd.server_address[:2]
        self.host, self.port = str(bound_host), int(bound_port)
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{shown}:{self.port}/v1/traces"

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        try:
            self._writer = BronzeWriter(self.ctx, self.session_id)  # creates bronze tables
        except Exception:
            self.httpd.server_close()
            raise
        if not _is_loopback(self.host):
            log.warning(
                "collector listens on %s, which is not loopback: anyone who can reach it can "
                "write traces (OTLP/HTTP has no authentication here)",
                self.host,
            )
        self.batcher.start()
        self._server_thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="collect-http"
        )
        self._server_thread.start()
        self.ctx.progress.start(f"collect {self.url}", None)
        log.info("collector listening on %s (session %s)", self.url, self.session_id)

    def stop(self) -> None:
        """Stop accepting, drain requests in flight, commit everything pending."""
        with self._inflight_cond:
            self.stopping = True
        self.httpd.shutdown()
        # Admitted requests wait for their micro-batch: commit it now, not at the interval.
        self.batcher.drain()
        with self._inflight_cond:
            self._inflight_cond.wait_for(lambda: self._inflight == 0, self.ack_timeout_s + 5)
        self.batcher.close()
        self.httpd.server_close()
        if self._server_thread is not None:
            self._server_thread.join()
        self.ctx.progress.finish()
        log.info("collector stopped: %s", self.stats.summary())

    # -- request accounting (called by OtlpHandler) ----------------------------------------

    def begin_request(self) -> None:
        """Admit one export request, or raise ShuttingDownError / QueueFullError (503)."""
        with self._inflight_cond:
            if self.stopping:
                raise ShuttingDownError("collector is shutting down; send to another receiver")
            self._inflight += 1
        if not self._slots.acquire(timeout=self.batcher.enqueue_timeout_s):
            self.end_request(release=False)
            raise QueueFullError("too many concurrent export requests; retry later")

    def end_request(self, release: bool = True) -> None:
        if release:
            self._slots.release()
        with self._inflight_cond:
            self._inflight -= 1
            self._inflight_cond.notify_all()

    # -- writing ---------------------------------------------------------------------------

    def _commit(self, batches: list[ParsedBatch]) -> None:
        number = self.stats.next_micro_batch()
        # One app id per session with the micro-batch number as its version: retries reuse it,
        # so a micro-batch whose commit landed before the error surfaced is not written twice,
        # and the Delta log holds one transaction entry per session, not one per flush.
        app_id = f"{JOB_NAME}-{self.session_id}"
        rows = sum(b.n_events + b.n_rejected for b in batches)
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            try:
                if self._writer is None:
                    self._writer = BronzeWriter(self.ctx, self.session_id)
                outcome = self._writer.commit(batches, app_id=app_id, app_version=number)
                break
            except Exception as exc:
                # A fresh writer re-reads what the lake holds now.
                self._writer = None
                if attempt == COMMIT_ATTEMPTS:
                    self.stats.add_failure()
                    raise
                log.warning("micro-batch %d commit failed (%s); retrying", number, exc)
                time.sleep(0.2 * 2**attempt)
        self.stats.add_commit(rows, outcome)
        self.ctx.progress.advance(outcome.stored)
        log.info(
            "micro-batch %d: %d request(s), %d row(s): stored %d, duplicates %d, quarantined %d",
            number,
            len(batches),
            rows,
            outcome.stored,
            outcome.duplicates,
            outcome.quarantined,
        )


def _on_signals(stop: threading.Event) -> Callable[[], None]:
    """Set `stop` on SIGINT/SIGTERM (a second signal acts as usual); returns an undo function.
    Signal handlers can only be installed from the main thread; elsewhere `stop` alone works."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def handle(signum: int, frame: object) -> None:
        log.info("received %s; flushing and shutting down", signal.Signals(signum).name)
        stop.set()
        restore()

    for sig in previous:
        signal.signal(sig, handle)
    return restore


def serve(
    ctx: JobContext,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    flush_interval_s: float = 1.0,
    max_batch_events: int = 10_000,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ready: threading.Event | None = None,
    commit_interval_s: float = 0.0,
    *,
    stop: threading.Event | None = None,
    on_listening: Callable[[str], None] | None = None,
) -> JobResult:
    """Receive OTLP/HTTP traces until SIGINT/SIGTERM (or `stop` is set); return the session's
    job result. `on_listening` gets the endpoint URL once bound (useful with port 0)."""
    stop = stop or threading.Event()
    params = {
        "host": host,
        "port": port,
        "flush_interval_s": flush_interval_s,
        "max_batch_events": max_batch_events,
        "max_body_bytes": max_body_bytes,
        "commit_interval_s": commit_interval_s,
    }
    with recorded_job_run(ctx, JOB_NAME, params) as result:
        collector = Collector(
            ctx,
            host=host,
            port=port,
            flush_interval_s=flush_interval_s,
            max_batch_events=max_batch_events,
            max_body_bytes=max_body_bytes,
            commit_interval_s=commit_interval_s,
        )
        restore_signals = _on_signals(stop)
        try:
            collector.start()
            if on_listening is not None:
                on_listening(collector.url)
            if ready is not None:
                ready.set()
            while not stop.wait(0.5):
                pass
        finally:
            restore_signals()
            if collector._server_thread is not None:
                collector.stop()
        stats = collector.stats.summary()
        result.rows_in = stats["rows_in"]
        result.rows_out = stats["stored"]
        result.rows_duplicate = stats["duplicates"]
        result.rows_quarantined = stats["quarantined"]
        result.versions_written = dict(stats["versions_written"])
        result.details = {**stats, "url": collector.url, "session_id": collector.session_id}
        if stats["stored"] == 0 and stats["quarantined"] == 0:
            result.status = "noop"
        result.message = (
            f"{stats['requests']} request(s), {stats['spans']} span(s) "
            f"({stats['rejected_spans']} rejected), {stats['micro_batches']} micro-batch(es): "
            f"stored {stats['stored']}, duplicates {stats['duplicates']}, "
            f"quarantined {stats['quarantined']}"
        )
        if stats["failed_micro_batches"]:
            result.message += f"; {stats['failed_micro_batches']} micro-batch(es) failed (503)"
    return result
