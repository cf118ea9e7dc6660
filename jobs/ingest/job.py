"""The ingest job: trace files -> bronze.events (+ bronze.quarantine), exactly once.

Steps, in order:
  ResolveSources     files, directories, globs, s3:// prefixes -> file list
  PlanUnits          dialect per file (content first, path as a hint); large canonical JSONL
                     files are cut at newlines into ranges that workers read themselves
  Parse              dialect parser -> events and rejections, in parallel for large inputs:
                     in threads for dialects that work in Arrow (canonical JSONL), in worker
                     processes for the pure-Python ones; each unit also fingerprints what it
                     would write
  Stage              BronzeWriter, in a background thread so parsing goes on: deduplicate
                     each parsed unit by event_id, quarantine conflicts, write the new events
                     to data files that no reader sees yet
  Commit             every `batch_rows` events: one Delta commit per table carrying the
                     batch's app transaction (named by the fingerprints of its units). Every
                     events commit also carries the writers' shared fence, so writers racing on
                     overlapping input cannot both store an event
  Record             one ops.job_runs row
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import re
import sys
import tempfile
import uuid
from collections import defaultdict, deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tracelake.schemas import MAX_EVENT_BYTES

from ..context import JobContext, JobResult, recorded_job_run
from ..errors import TracelakeError
from ..lake import catalog
from ..lake.store import translate_storage_error
from . import dialects, sources
from .model import Dialect, Rejection, SourceDoc, stable_id
from .normalize import MAX_RAW_KEPT, ParsedBatch, normalize, parse_doc
from .writer import BronzeWriter, CommitOutcome

JOB_NAME = "ingest"
# Canonical JSONL files are split into ranges of about this size so every core parses.
CHUNK_BYTES = 32 * 1024 * 1024
# Below this much input, a process pool costs more than it saves.
PARALLEL_MIN_BYTES = 4 * 1024 * 1024
SNIFF_BYTES = 64 * 1024
# Files that are commonly found beside traces but are not traces: quarantined with their own
# reason code so that real format failures stand out.
NOT_A_TRACE = re.compile(
    r"(^|/)(readme|license|licence|changelog|contributing)(\.[a-z]+)?$|"
    r"\.(png|jpe?g|gif|svg|ico|pdf|zip|tar|whl|pyc|so|bin|exe)$|(^|/)\.gitkeep$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ParseUnit:
    """One piece of work for a parser: a whole file, or a line range of a local JSONL file."""

    uri: str
    dialect: str
    batch_id: str
    data: bytes | None = None  # None: read [start, end) of the local file `uri`
    start: int = 0
    end: int = 0
    first_line: int = 1
    # Set for a whole document read (and decompressed) by the parsing worker under this cap.
    limit: int | None = None
    storage_options: dict[str, str] | None = None

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        if self.limit is not None:
            return sources.read_capped(self.uri, self.limit, self.storage_options)
        return sources.read_range(self.uri, self.start, self.end)


@dataclass(frozen=True)
class Limits:
    """Caps on what one input may make ingest hold (see IngestSettings)."""

    file_bytes: int
    document_bytes: int
    follow_symlinks: bool = False


@dataclass
class DialectStats:
    files: int = 0
    records: int = 0
    events: int = 0
    quarantined: int = 0


@dataclass
class IngestStats:
    files: int = 0
    read: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    skipped_batches: int = 0
    per_dialect: dict[str, DialectStats] = field(default_factory=lambda: defaultdict(DialectStats))

    def add_batch(self, batch: ParsedBatch, first_of_file: bool) -> None:
        d = self.per_dialect[batch.dialect]
        d.files += int(first_of_file)
        d.records += batch.records_read
        d.events += batch.n_events
        d.quarantined += batch.n_rejected
        self.read += batch.records_read

    def add_commit(self, outcome: CommitOutcome) -> None:
        self.stored += outcome.stored
        self.duplicates += outcome.duplicates
        self.quarantined += outcome.quarantined
        self.skipped_batches += outcome.skipped


def _parse_unit(unit: ParseUnit | ParsedBatch) -> ParsedBatch:
    if isinstance(unit, ParsedBatch):  # already decided (unreadable or unrecognised file)
        return unit
    try:
        data = unit.read()
    except sources.FileTooLargeError as exc:
        return _rejected_file(
            unit.uri,
            b"",
            unit.batch_id,
            "file_too_large",
            f"{unit.dialect} files are parsed whole and this one is {exc}; split it or raise "
            "ingest.max_document_bytes",
        )
    except sources.StreamError as exc:
        return _rejected_file(
            unit.uri, b"", unit.batch_id, "unreadable", f"{exc}; nothing of it stored; re-export it"
        )
    doc = SourceDoc(unit.uri, data, unit.first_line)
    batch = parse_doc(dialects.get(unit.dialect), doc, unit.batch_id)
    batch.source_bytes = len(data)
    return batch.compute_fingerprint()


def _rejected_file(
    uri: str,
    data: bytes,
    batch_id: str,
    code: str,
    why: str,
    position: str | None = None,
    size: int | None = None,
) -> ParsedBatch:
    class _Unknown:
        name = "unknown"
        producer = "unknown"

    doc = SourceDoc(uri, data)
    batch = normalize(
        [Rejection(code, why, data[:MAX_RAW_KEPT], position, size)],
        _Unknown(),  # type: ignore[arg-type]
        doc,
        batch_id,
    )
    return batch.compute_fingerprint()


def _stream_canonical(
    ref: sources.SourceRef,
    storage_options: dict[str, str],
    batch_id: str,
    limits: Limits,
) -> Iterator[ParseUnit | ParsedBatch]:
    """A compressed or remote canonical file, decompressed as a stream and cut at newlines
    into units of about CHUNK_BYTES: memory stays a few chunks whatever the file's size.

    A line longer than the event limit is skipped to its end and quarantined (`oversize`);
    past `limits.file_bytes` the rest is quarantined (`file_too_large`); a stream that breaks
    keeps what came before and records the loss (`unreadable`)."""
    carry = bytearray()
    line, total = 1, 0
    skip: list[Any] | None = None  # [line number, size so far, first bytes] of an oversize line

    def oversize(number: int, size: int, head: bytes) -> ParsedBatch:
        why = (
            f"record is {size} bytes, over the {MAX_EVENT_BYTES}-byte limit; "
            "store large payloads elsewhere and reference them"
        )
        return _rejected_file(ref.uri, head, batch_id, "oversize", why, f"line:{number}", size)

    pieces = sources.decompressed_pieces(ref.uri, storage_options)
    try:
        for piece in pieces:
            total += len(piece)
            if total > limits.file_bytes:
                yield _rejected_file(
                    ref.uri,
                    b"",
                    batch_id,
                    "file_too_large",
                    f"the file decompresses to more than {limits.file_bytes} bytes; lines "
                    f"before line {line} were read, the rest was not; split the file or raise "
                    "ingest.max_file_bytes",
                    f"from-line:{line}",
                )
                return
            if skip is not None:
                end = piece.find(b"\n")
                if end < 0:
                    skip[1] += len(piece)
                    continue
                skip[1] += end
                yield oversize(*skip)
                line, skip, piece = line + 1, None, piece[end + 1 :]
            carry += piece
            if len(carry) < CHUNK_BYTES:
                continue
            cut = carry.rfind(b"\n")
            if cut >= 0:
                data = bytes(carry[: cut + 1])
                del carry[: cut + 1]
                yield ParseUnit(ref.uri, "canonical", batch_id, data, first_line=line)
                line += data.count(b"\n")
            if len(carry) > MAX_EVENT_BYTES + 2:  # one unfinished line already too long
                skip = [line, len(carry), bytes(carry[:MAX_RAW_KEPT])]
                carry.clear()
    except sources.StreamError as exc:
        cut = carry.rfind(b"\n") if skip is None else -1
        if cut >= 0:  # the complete lines before the break are readable: store them
            data = bytes(carry[: cut + 1])
            del carry[: cut + 1]
            yield ParseUnit(ref.uri, "canonical", batch_id, data, first_line=line)
            line += data.count(b"\n")
        yield _rejected_file(
            ref.uri,
            bytes(carry[:MAX_RAW_KEPT]),
            batch_id,
            "unreadable",
            f"{exc}: lines before line {line} were stored, the rest is lost; re-export the "
            "file to recover it",
            f"from-line:{line}",
            len(carry),
        )
        return
    finally:
        pieces.close()
    if skip is not None:
        yield oversize(*skip)
    elif carry:
        yield ParseUnit(ref.uri, "canonical", batch_id, bytes(carry), first_line=line)


def _units(
    refs: list[sources.SourceRef],
    storage_options: dict[str, str],
    forced: Dialect | None,
    batch_id: str,
    limits: Limits,
) -> Iterator[ParseUnit | ParsedBatch]:
    for ref in refs:
        if ref.outside_root:
            yield _rejected_file(
                ref.uri,
                b"",
                batch_id,
                "symlink_outside_input",
                f"a symlink to {ref.target!r}, outside the input; not followed (set "
                "ingest.follow_symlinks = true to read such files)",
            )
            continue
        if ref.size == 0:
            yield _rejected_file(ref.uri, b"", batch_id, "empty", "the file is empty")
            continue
        try:
            head = sources.read_head(ref.uri, SNIFF_BYTES, storage_options)
        except sources.StreamError as exc:
            # The bytes are there but broken: a permanent property of the file, so quarantine.
            yield _rejected_file(
                ref.uri, b"", batch_id, "unreadable", f"cannot decompress file: {exc}; re-export it"
            )
            continue
        except OSError as exc:
            # Transient or access problems must fail the run (and be retried), never be
            # recorded as if the file had been consumed.
            raise translate_storage_error(exc, ref.uri) or TracelakeError(
                f"cannot read {ref.uri}: {exc}"
            ) from None
        if not head.strip() and len(head) < SNIFF_BYTES:  # all of it read, and all blank
            yield _rejected_file(ref.uri, head, batch_id, "empty", "the file holds only blanks")
            continue
        dialect = forced or dialects.detect(sources.logical_path(ref.uri), head)
        if dialect is None:
            if NOT_A_TRACE.search(ref.uri):
                code, why = "not_a_trace", "a known non-trace file (readme, licence, binary)"
            else:
                code = "unrecognised_format"
                why = (
                    "no known trace format recognised this file; pass --format to force one "
                    f"({', '.join(sorted(dialects.registry()))})"
                )
            yield _rejected_file(ref.uri, head, batch_id, code, why)
            continue
        plain_local = not ref.uri.startswith("s3://") and not sources.is_compressed(ref.uri)
        if dialect.name == "canonical" and plain_local:
            for start, end, first_line in sources.line_chunks(ref.uri, CHUNK_BYTES):
                if start >= limits.file_bytes:
                    yield _rejected_file(
                        ref.uri,
                        b"",
                        batch_id,
                        "file_too_large",
                        f"the file is over {limits.file_bytes} bytes; lines before line "
                        f"{first_line} were read, the rest was not; split the file or raise "
                        "ingest.max_file_bytes",
                        f"from-line:{first_line}",
                    )
                    break
                yield ParseUnit(ref.uri, dialect.name, batch_id, None, start, end, first_line)
        elif dialect.name == "canonical":
            yield from _stream_canonical(ref, storage_options, batch_id, limits)
        elif plain_local:
            if ref.size > limits.document_bytes:
                yield _rejected_file(
                    ref.uri,
                    head,
                    batch_id,
                    "file_too_large",
                    f"{dialect.name} files are parsed whole and this one is over "
                    f"{limits.document_bytes} bytes; split it or raise ingest.max_document_bytes",
                )
            else:
                yield ParseUnit(ref.uri, dialect.name, batch_id, None, 0, ref.size)
        else:
            limit = min(limits.document_bytes, limits.file_bytes)
            yield ParseUnit(
                ref.uri, dialect.name, batch_id, limit=limit, storage_options=storage_options
            )


def _workers(ctx: JobContext) -> int:
    configured = ctx.settings.ingest.workers
    return configured or max(1, min(os.cpu_count() or 1, 8))


def _in_threads(unit: ParseUnit | ParsedBatch) -> bool:
    """Whether a unit is parsed in a thread: its dialect does its work in Arrow, which releases
    the GIL, so threads parallelise it without the start-up and hand-off cost of processes."""
    return isinstance(unit, ParsedBatch) or getattr(
        dialects.get(unit.dialect), "releases_gil", False
    )


def _parsed(
    units: Iterator[ParseUnit | ParsedBatch], total_bytes: int, workers: int
) -> Iterator[ParsedBatch]:
    """Parse units on `workers` threads or processes, yielding results in input order."""
    if workers <= 1 or total_bytes < PARALLEL_MIN_BYTES:
        for unit in units:
            yield _parse_unit(unit)
        return
    with (
        tempfile.TemporaryDirectory(prefix="tracelake-ingest-") as spill,
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest-parse") as threads,
        _LazyProcessPool(workers) as processes,
    ):
        # A bounded window of units in flight (Executor.map would read every input up front).
        window: deque[Future[ParsedBatch]] = deque()
        for unit in units:
            if _in_threads(unit):
                window.append(threads.submit(_parse_unit, unit))
            else:
                window.append(processes.get().submit(_parse_spilled, unit, spill))
            if len(window) >= 2 * workers:
                yield window.popleft().result().unspill()
        while window:
            yield window.popleft().result().unspill()


class _LazyProcessPool:
    """A process pool started only when a unit needs one (pure-Python dialects)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool: ProcessPoolExecutor | None = None

    def get(self) -> ProcessPoolExecutor:
        if self.pool is None:
            # forkserver: safe when the caller also runs threads or a JVM gateway (Airflow,
            # Spark), and delta-rs's runtime does not survive a fork.
            mp = multiprocessing.get_context("forkserver")
            self.pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=mp)
        return self.pool

    def __enter__(self) -> _LazyProcessPool:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


def _parse_spilled(unit: ParseUnit | ParsedBatch, spill_dir: str) -> ParsedBatch:
    """Parse in a worker process and hand the events back through an Arrow file, which the
    parent maps without copying (pickling the tables through a pipe costs several copies)."""
    return _parse_unit(unit).spill(spill_dir)


class _Committer:
    """Stages parsed batches and commits them in a background thread, one at a time and in
    order, so parsing goes on while data files are written; a commit is then only a log
    entry."""

    # Parsed batches waiting for the writer thread: one keeps staging in step with parsing (a
    # longer queue left ~0.3 s of staging for after the last parse at 1M events) and bounds
    # memory; the parse window ahead of it keeps the parsers busy meanwhile.
    MAX_QUEUED = 1

    def __init__(self, writer: BronzeWriter, stats: IngestStats, result: JobResult) -> None:
        self.writer, self.stats, self.result = writer, stats, result
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-commit")
        self._queued: deque[Future[Any]] = deque()
        self._fingerprints: list[str] = []

    def stage(self, batch: ParsedBatch) -> None:
        self._fingerprints.append(batch.fingerprint)
        self._enqueue(self._thread.submit(self.writer.stage, batch))

    def commit(self) -> None:
        """Commit everything staged since the last commit."""
        if not self._fingerprints:
            return
        # The app transaction names the batch by the content it read: a retried run skips it.
        app_id = f"ingest-{stable_id(tuple(self._fingerprints))}"
        self._fingerprints = []
        self._enqueue(self._thread.submit(self._commit, app_id))

    def _commit(self, app_id: str) -> None:
        outcome = self.writer.commit_staged(app_id)
        self.stats.add_commit(outcome)
        self.result.versions_written.update(outcome.versions_written)

    def _enqueue(self, future: Future[Any]) -> None:
        self._queued.append(future)
        while len(self._queued) > self.MAX_QUEUED or (self._queued and self._queued[0].done()):
            self._queued.popleft().result()  # raises the writer's error here

    def close(self) -> None:
        try:
            while self._queued:
                self._queued.popleft().result()
        finally:
            self._thread.shutdown(wait=True, cancel_futures=True)
            self.writer.abort()  # after an error: staged files no commit will reference


_PR_SET_THP_DISABLE, _PR_GET_THP_DISABLE = 41, 42


@contextmanager
def _without_huge_pages(enabled: bool) -> Iterator[None]:
    """Opt the process out of transparent huge pages while ingesting (Linux only).

    Arrow's allocator backs its buffers with huge pages where the kernel allows it; each one
    is zeroed whole on first touch, and memory freed between parse units comes back fresh.
    Without them the run spends about a third less system time (measured 1.5 -> 1.0 s per
    million events) and no longer stalls on compaction. The previous setting is restored."""
    if not enabled or not sys.platform.startswith("linux"):
        yield
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        was_disabled = libc.prctl(_PR_GET_THP_DISABLE, 0, 0, 0, 0)
        changed = was_disabled == 0 and libc.prctl(_PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):  # no prctl here: nothing to tune
        changed = False
    try:
        yield
    finally:
        if changed:
            libc.prctl(_PR_SET_THP_DISABLE, 0, 0, 0, 0)


def run(
    ctx: JobContext,
    paths: list[str],
    format: str | None = None,
) -> JobResult:
    """Ingest trace files. Returns counts; see `result.details` for per-dialect figures."""
    with _without_huge_pages(not ctx.settings.ingest.huge_pages):
        return _run(ctx, paths, format)


def _run(ctx: JobContext, paths: list[str], format: str | None) -> JobResult:
    params: dict[str, Any] = {"paths": list(paths), "format": format}
    with recorded_job_run(ctx, JOB_NAME, params) as result:
        forced = dialects.get(format) if format else None
        # Options for every input, not the first one's: `ingest traces/ s3://b/landing/`.
        storage_options = ctx.settings.storage_options_for_all(paths)
        settings = ctx.settings.ingest
        limits = Limits(
            settings.max_file_bytes, settings.max_document_bytes, settings.follow_symlinks
        )
        refs = sources.resolve(list(paths), storage_options, limits.follow_symlinks)
        stats = IngestStats(files=len(refs))
        batch_id = uuid.uuid4().hex
        committer = _Committer(BronzeWriter(ctx, batch_id), stats, result)
        total_bytes = sum(r.size for r in refs)
        ctx.progress.start(f"ingest {len(refs)} file(s)", total_bytes)

        pending_rows = 0
        files_seen: set[tuple[str, str]] = set()
        try:
            units = _units(refs, storage_options, forced, batch_id, limits)
            for batch in _parsed(units, total_bytes, _workers(ctx)):
                key = (batch.uri, batch.dialect)
                stats.add_batch(batch, first_of_file=key not in files_seen)
                files_seen.add(key)
                committer.stage(batch)
                pending_rows += batch.n_events
                ctx.progress.advance(batch.source_bytes)
                if pending_rows >= ctx.settings.ingest.batch_rows:
                    committer.commit()
                    pending_rows = 0
            committer.commit()
        finally:
            committer.close()
            ctx.progress.finish()

        result.rows_in = stats.read
        result.rows_out = stats.stored
        result.rows_duplicate = stats.duplicates
        result.rows_quarantined = stats.quarantined
        if stats.stored == 0 and stats.quarantined == 0:
            result.status = "noop"
        result.details = {
            "files": stats.files,
            "skipped_batches": stats.skipped_batches,
            "per_dialect": {k: v.__dict__ for k, v in sorted(stats.per_dialect.items())},
            "quarantine_table": ctx.lake.uri(catalog.BRONZE_QUARANTINE),
            "batch_id": batch_id,
        }
        result.message = (
            f"read {stats.read}, stored {stats.stored}, duplicates {stats.duplicates}, "
            f"quarantined {stats.quarantined}"
        )
    return result
