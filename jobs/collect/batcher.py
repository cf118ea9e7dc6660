"""Micro-batching between request threads and the lake: bounded latency, bounded memory.

Request threads `submit` parsed batches and wait on a `Ticket`; one flusher thread commits
everything pending as one micro-batch when the oldest pending batch is `flush_interval_s` old,
or earlier when `max_batch_rows` are pending. A submit that finds no room waits for the next
flush (back-pressure) and gives up with QueueFullError after `enqueue_timeout_s`, which the
receiver answers with 503 so the exporter retries later.

Memory holds at most `max_batch_rows` pending rows plus the micro-batch being committed. A single
request larger than `max_batch_rows` is still accepted when nothing else is pending (it could
never fit otherwise); the body-size limit bounds it.

Commit grouping (`commit_interval_s` > 0): under load, micro-batches fill up (`max_batch_rows`)
faster than the flush interval, and each would be its own Delta commit: one log entry, one small
file and a checkpoint every 100 of them (docs/scaling.md). With grouping, a micro-batch taken
less than `commit_interval_s` after the last commit is not committed yet: its events are
spilled to a local Arrow file (memory stays bounded by `max_batch_rows`) and it joins a group
that is committed as one when the commit interval has passed, or when its oldest request has
waited `flush_interval_s`, whichever comes first. So no request waits for its acknowledgement
longer than without grouping, and an interval above `flush_interval_s` groups no further than
`flush_interval_s` does.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
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
    submitted_at: float = 0.0  # time.monotonic() when queued: its acknowledgement deadline
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
        commit_interval_s: float = 0.0,
    ) -> None:
        if flush_interval_s <= 0 or max_batch_rows < 1 or commit_interval_s < 0:
            raise ValueError(
                "flush_interval_s must be > 0, max_batch_rows >= 1 and commit_interval_s >= 0"
            )
        self._commit = commit
        self.flush_interval_s = flush_interval_s
        self.commit_interval_s = commit_interval_s
        self._last_commit_at = float("-inf")
        self._spill_dir: str | None = None  # created on the first deferred micro-batch
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
            ticket.submitted_at = time.monotonic()
            if not self._pending:
                self._oldest_at = ticket.submitted_at
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

    def _take(self, group_due: float | None) -> list[tuple[ParsedBatch, Ticket]] | None:
        """Wait until a micro-batch is due and take it. With a group waiting (`group_due`, when
        it must be committed), return what is pending at that time, possibly nothing. None when
        closed and drained."""
        with self._cond:
            while not self._pending and not self._closing:
                if group_due is None:
                    self._cond.wait()
                    continue
                remaining = group_due - time.monotonic()
                if remaining <= 0:
                    return []
                self._cond.wait(remaining)
            if not self._pending:
                return None if group_due is None else []
            while (
                not self._closing
                and not self._draining
                and self._pending_rows < self.max_batch_rows
            ):
                due = self._oldest_at + self.flush_interval_s
                if group_due is not None:
                    due = min(due, group_due)  # pending requests ride along, acknowledged early
                remaining = due - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            taken, self._pending, self._pending_rows = self._pending, [], 0
            self._cond.notify_all()  # room for waiting submitters
            return taken

    def _group_due(self, oldest: float) -> float:
        """When a waiting group must be committed: its oldest request's acknowledgement
        deadline, or the end of the commit interval, whichever is first."""
        return min(oldest + self.flush_interval_s, self._last_commit_at + self.commit_interval_s)

    def _run(self) -> None:
        group: list[tuple[ParsedBatch, Ticket]] = []
        oldest = 0.0
        try:
            while (taken := self._take(self._group_due(oldest) if group else None)) is not None:
                if taken:
                    oldest = min([t.submitted_at for _, t in taken] + ([oldest] if group else []))
                    group.extend(taken)
                if not group:
                    continue
                if self._defer(oldest):
                    for batch, _ in taken:  # waits for the group: out of memory meanwhile
                        batch.spill(self._spill_directory())
                    continue
                self._commit_group(group)
                group = []
            if group:  # closed while a group waited
                self._commit_group(group)
        finally:
            if self._spill_dir is not None:
                shutil.rmtree(self._spill_dir, ignore_errors=True)

    def _defer(self, oldest: float) -> bool:
        """Whether the group may wait for more micro-batches instead of committing now."""
        if self.commit_interval_s <= 0:
            return False
        with self._cond:
            if self._closing or self._draining:
                return False
        return time.monotonic() < self._group_due(oldest)

    def _spill_directory(self) -> str:
        if self._spill_dir is None:
            self._spill_dir = tempfile.mkdtemp(prefix="tracelake-collect-")
        return self._spill_dir

    def _commit_group(self, group: list[tuple[ParsedBatch, Ticket]]) -> None:
        error: BaseException | None = None
        try:
            self._commit([batch.unspill() for batch, _ in group])
        except BaseException as exc:  # reported to every waiting request, which answers 503
            log.exception("micro-batch of %d request(s) failed to commit", len(group))
            error = exc
        self._last_commit_at = time.monotonic()
        for _, ticket in group:
            ticket.finish(error)
