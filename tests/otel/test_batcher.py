"""MicroBatcher: flush on interval or size, back-pressure, close drains, errors reach requests."""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import pytest

from tracelake.jobs.collect.batcher import MicroBatcher, QueueFullError, ShuttingDownError
from tracelake.jobs.ingest.normalize import ParsedBatch


def batch(rows: int) -> ParsedBatch:
    events = pa.table({"event_id": [str(i) for i in range(rows)]})
    return ParsedBatch("u", "d", events, pa.table({"q": pa.array([], pa.string())}), rows)


class Recorder:
    def __init__(self, gate: threading.Event | None = None, fail: bool = False) -> None:
        self.commits: list[list[int]] = []
        self.gate = gate
        self.fail = fail

    def __call__(self, batches: list[ParsedBatch]) -> None:
        if self.gate is not None:
            self.gate.wait(30)
        self.commits.append([b.n_events for b in batches])
        if self.fail:
            raise OSError("lake unreachable")


def test_full_micro_batch_commits_before_the_interval():
    recorder = Recorder()
    batcher = MicroBatcher(recorder, flush_interval_s=3600, max_batch_rows=5, enqueue_timeout_s=30)
    batcher.start()
    tickets = [batcher.submit(batch(2)), batcher.submit(batch(3))]
    assert all(t.wait(30) for t in tickets)
    assert recorder.commits == [[2, 3]]
    batcher.close(30)


def test_interval_flushes_a_partial_micro_batch():
    recorder = Recorder()
    batcher = MicroBatcher(
        recorder, flush_interval_s=0.05, max_batch_rows=1000, enqueue_timeout_s=30
    )
    batcher.start()
    assert batcher.submit(batch(1)).wait(30)
    assert recorder.commits == [[1]]
    batcher.close(30)


def test_no_room_waits_then_raises_queue_full():
    gate = threading.Event()
    recorder = Recorder(gate)
    batcher = MicroBatcher(recorder, flush_interval_s=3600, max_batch_rows=2, enqueue_timeout_s=30)
    batcher.start()
    first = batcher.submit(batch(2))  # full: the flusher takes it and blocks on the gate
    second = batcher.submit(batch(2))  # waits for room, then is pending while the first commits
    batcher.enqueue_timeout_s = 0.1
    with pytest.raises(QueueFullError):
        batcher.submit(batch(1))
    gate.set()
    assert first.wait(30) and second.wait(30)
    batcher.close(30)
    assert recorder.commits == [[2], [2]]


def test_close_commits_everything_pending_and_refuses_more():
    recorder = Recorder()
    batcher = MicroBatcher(
        recorder, flush_interval_s=3600, max_batch_rows=1000, enqueue_timeout_s=1
    )
    batcher.start()
    tickets = [batcher.submit(batch(1)) for _ in range(3)]
    assert not any(t.done.is_set() for t in tickets)
    batcher.close(30)
    assert all(t.done.is_set() and t.error is None for t in tickets)
    assert recorder.commits == [[1, 1, 1]]
    with pytest.raises(ShuttingDownError):
        batcher.submit(batch(1))


def test_commit_error_reaches_every_waiting_request():
    batcher = MicroBatcher(
        Recorder(fail=True), flush_interval_s=0.01, max_batch_rows=10, enqueue_timeout_s=1
    )
    batcher.start()
    ticket = batcher.submit(batch(1))
    assert ticket.wait(30)
    assert isinstance(ticket.error, OSError)
    batcher.close(30)


# -- commit grouping (commit_interval_s) ------------------------------------------------------


class RowRecorder(Recorder):
    """Also records the rows each committed batch holds in memory (spilled ones are back)."""

    def __init__(self) -> None:
        super().__init__()
        self.in_memory: list[list[int]] = []

    def __call__(self, batches: list[ParsedBatch]) -> None:
        self.in_memory.append([b.events.num_rows for b in batches])
        super().__call__(batches)


def _spilled(b: ParsedBatch) -> None:
    """Wait until the flusher has taken `b` and set it aside for the group (spilled)."""
    pause = threading.Event()
    for _ in range(3000):
        if b.spilled_to:
            return
        pause.wait(0.01)
    raise AssertionError("the micro-batch was never set aside")


def test_full_micro_batches_within_the_commit_interval_are_one_commit():
    recorder = RowRecorder()
    batcher = MicroBatcher(
        recorder,
        flush_interval_s=3600,
        max_batch_rows=2,
        enqueue_timeout_s=30,
        commit_interval_s=3600,
    )
    batcher.start()
    first = batcher.submit(batch(2))  # nothing committed yet: commits at once
    assert first.wait(30)
    waiting, files = [], []
    for _ in range(3):  # each fills a micro-batch; all within the commit interval
        b = batch(2)
        waiting.append(batcher.submit(b))
        _spilled(b)  # out of memory while it waits: events on disk
        assert b.events.num_rows == 0
        files.append(Path(b.spilled_to or ""))
    assert not any(t.done.is_set() for t in waiting)
    batcher.close(30)
    assert not any(f.exists() for f in files)  # closing commits the waiting group
    assert all(t.done.is_set() and t.error is None for t in waiting)
    assert recorder.commits == [[2], [2, 2, 2]]
    assert recorder.in_memory == [[2], [2, 2, 2]]


def test_grouping_never_holds_a_request_past_the_flush_interval():
    recorder = Recorder()
    batcher = MicroBatcher(
        recorder,
        flush_interval_s=0.2,
        max_batch_rows=2,
        enqueue_timeout_s=30,
        commit_interval_s=3600,
    )
    batcher.start()
    assert batcher.submit(batch(2)).wait(30)
    # Within the hour-long commit interval, yet committed once it has waited 0.2 s.
    assert batcher.submit(batch(2)).wait(30)
    assert recorder.commits == [[2], [2]]
    batcher.close(30)
