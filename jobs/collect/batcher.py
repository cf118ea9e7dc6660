"""Micro-batching between request threads and the lake: bounded latency, bounded memory.

Request threads `submit` parsed batches and wait on a `Ticket`; one flusher thread commits
everything pending as one micro-batch when the oldest pending batch is `flush_interval_s` old,
or earlier when `max_batch_rows` are pending. A submit that finds no room waits for the next
flush (back-pressure) and gives up with QueueFullError after `enqueue_timeout_s`, which the
receiver answers with 503 so the exporter retries later.

Memory holds at most `max_batch_rows` pending rows plus the micro-batch being committed. A single
request larger than `max_batch_rows` is still accepted when nothing else is pending (it could
never fit otherwise); the body-size limit bounds it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..ingest.normalize import ParsedBatch

log = logging.getLogger("tracelake.collect")


class QueueFullError(Exception):
    """No room for the batch within the enqueue timeout (the lake is slower than the input)."""


class ShuttingDownError(Exception):
    """The batcher no longer accepts batches."""


@dataclass
class Ticket:
    """A submitted batch's receipt: done once its micro-batch is committed (or failed)."""

    rows: int
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def wait(self, timeout: float | None) -> bool:
        return self.done.wait(timeout)

    def finish(self, error: BaseException | None) -> None:
        self.error = error
        self.done.set()


def rows_of(batch: ParsedBatch) -> int:
    return batch.n_events + batch.n_rejected


class MicroBatcher:
    def __init__(
        self,
        commit: Callable[[list[ParsedBatch]], None],
        *,
        flush_interval_s: float,
        max_batch_rows: int,
        enqueue_timeout_s: float,
    ) -> None:
        if flush_interval_s <= 0 or max_batch_rows < 1:
            raise ValueError("flush_interval_s must be > 0 and max_batch_rows >= 1")
        self._commit = commit
        self.flush_interval_s = flush_interval_s
        self.max_batch_rows = max_batch_rows
        self.enqueue_timeout_s = enqueue_timeout_s
        self._cond = threading.Condition()
        self._pending: list[tuple[ParsedBatch, Ticket]] = []
        self._pending_rows = 0
        self._oldest_at = 0.0
        self._closing = False
        self._draining = False  # shutting down: commit each batch as soon as it arrives
        self._thread = threading.Thread(target=self._run, name="collect-flusher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, batch: ParsedBatch) -> Ticket:
        ticket = Ticket(rows_of(batch))
        deadline = time.monotonic() + self.enqueue_timeout_s
        with self._cond:
            while True:
                if self._closing:
                    raise ShuttingDownError("the collector is shutting down")
                if not self._pending or self._pending_rows + ticket.rows <= self.max_batch_rows:
                    break
                self._cond.notify_all()  # full: wake the flusher now rather than at the deadline
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise QueueFullError(
                        f"{self._pending_rows} rows are waiting for the lake "
                        f"(limit {self.max_batch_rows}); retry later"
                    )
                self._cond.wait(remaining)
            if not self._pending:
                self._oldest_at = time.monotonic()
            self._pending.append((batch, ticket))
            self._pending_rows += ticket.rows
            # Wakes the flusher: it may be idle (first batch) or the micro-batch may now be full.
            self._cond.notify_all()
        return ticket

    def drain(self) -> None:
        """Commit pending and newly submitted batches at once instead of waiting for the
        interval; used during shutdown while admitted requests finish submitting."""
        with self._cond:
            self._draining = True
            self._cond.notify_all()

    def close(self, timeout: float | None = None) -> None:
        """Stop accepting, commit everything pending, and wait for the flusher to finish."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def pending_rows(self) -> int:
        with self._cond:
            return self._pending_rows

    def _take(self) -> list[tuple[ParsedBatch, Ticket]] | None:
        """Wait until a micro-batch is due and take it; None when closed and drained."""
        with self._cond:
            while not self._pending and not self._closing:
                self._cond.wait()
            if not self._pending:
                return None
            while (
                not self._closing
                and not self._draining
                and self._pending_rows < self.max_batch_rows
            ):
                remaining = self._oldest_at + self.flush_interval_s - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            taken, self._pending, self._pending_rows = self._pending, [], 0
            self._cond.notify_all()  # room for waiting submitters
            return taken

    def _run(self) -> None:
        while (taken := self._take()) is not None:
            error: BaseException | None = None
            try:
                self._commit([batch for batch, _ in taken])
            except BaseException as exc:  # reported to every waiting request, which answers 503
                log.exception("micro-batch of %d request(s) failed to commit", len(taken))
                error = exc
            for _, ticket in taken:
                ticket.finish(error)
