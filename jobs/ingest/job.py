"""The ingest job: trace files -> bronze.events (+ bronze.quarantine), exactly once.

Steps, in order:
  ResolveSources     files, directories, globs, s3:// prefixes -> file list
  ReadAndDetect      bytes (decompressed), content fingerprint, dialect per file
  Parse              dialect parser -> events and rejections, in parallel for large inputs
  Commit             BronzeWriter: deduplicate by event_id, quarantine conflicts, then one Delta
                     commit per table carrying the batch's app transaction (exactly once)
  Record             one ops.job_runs row
"""

from __future__ import annotations

import multiprocessing
import os
import uuid
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..context import JobContext, JobResult, recorded_job_run
from ..lake import catalog
from . import dialects, sources
from .model import Dialect, Rejection, SourceDoc, stable_id
from .normalize import MAX_RAW_KEPT, ParsedBatch, normalize, parse_doc
from .writer import BronzeWriter

JOB_NAME = "ingest"
# Canonical JSONL files are split into chunks of about this size so both cores parse one file.
CHUNK_BYTES = 8 * 1024 * 1024
# Below this much input, a process pool costs more than it saves.
PARALLEL_MIN_BYTES = 4 * 1024 * 1024
SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True)
class ParseUnit:
    uri: str
    dialect: str
    data: bytes
    first_line: int
    batch_id: str


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


def _parse_unit(unit: ParseUnit | ParsedBatch) -> ParsedBatch:
    if isinstance(unit, ParsedBatch):  # already decided (unreadable or unrecognised file)
        return unit
    dialect = dialects.get(unit.dialect)
    doc = SourceDoc(unit.uri, unit.data, unit.first_line)
    batch = parse_doc(dialect, doc, unit.batch_id)
    batch.source_bytes = len(unit.data)
    return batch


def _unrecognised(uri: str, data: bytes, batch_id: str, why: str) -> ParsedBatch:
    class _Unknown:
        name = "unknown"
        producer = "unknown"

    doc = SourceDoc(uri, data)
    rejection = Rejection("unrecognised_format", why, data[:MAX_RAW_KEPT], None)
    return normalize([rejection], _Unknown(), doc, batch_id)  # type: ignore[arg-type]


def _split_lines(data: bytes, chunk_bytes: int) -> Iterator[tuple[bytes, int]]:
    """Split at newlines into chunks of about chunk_bytes, with each chunk's first line number."""
    start, line = 0, 1
    while start < len(data):
        end = data.find(b"\n", min(start + chunk_bytes, len(data)) - 1)
        end = len(data) if end == -1 else end + 1
        chunk = data[start:end]
        yield chunk, line
        line += chunk.count(b"\n")
        start = end


def _units(
    refs: list[sources.SourceRef],
    storage_options: dict[str, str],
    forced: Dialect | None,
    batch_id: str,
    fingerprints: list[str],
) -> Iterator[ParseUnit | ParsedBatch]:
    for ref in refs:
        try:
            raw = sources.read_bytes(ref.uri, storage_options)
        except (OSError, EOFError, zstandard_error()) as exc:
            yield _unrecognised(
                ref.uri, b"", batch_id, f"cannot read or decompress file: {exc}; re-export it"
            )
            continue
        fingerprints.append(sources.fingerprint(raw))
        dialect = forced or dialects.detect(sources.logical_name(ref.uri), raw[:SNIFF_BYTES])
        if dialect is None:
            yield _unrecognised(
                ref.uri,
                raw,
                batch_id,
                "no known trace format recognised this file; pass --format to force one "
                f"({', '.join(sorted(dialects.registry()))})",
            )
            continue
        if dialect.name == "canonical":
            for chunk, first_line in _split_lines(raw, CHUNK_BYTES):
                yield ParseUnit(ref.uri, dialect.name, chunk, first_line, batch_id)
        else:
            yield ParseUnit(ref.uri, dialect.name, raw, 1, batch_id)


def zstandard_error() -> type[Exception]:
    import zstandard

    return zstandard.ZstdError


def _workers(ctx: JobContext) -> int:
    configured = ctx.settings.ingest.workers
    return configured or max(1, min(os.cpu_count() or 1, 8))


def _parsed(
    units: Iterator[ParseUnit | ParsedBatch], total_bytes: int, workers: int
) -> Iterator[ParsedBatch]:
    if workers <= 1 or total_bytes < PARALLEL_MIN_BYTES:
        for unit in units:
            yield _parse_unit(unit)
        return
    # forkserver: safe when the caller also runs threads or a JVM gateway (Airflow, Spark).
    mp = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp) as pool:
        yield from pool.map(_parse_unit, units, chunksize=1)


def run(
    ctx: JobContext,
    paths: list[str],
    format: str | None = None,
) -> JobResult:
    """Ingest trace files. Returns counts; see `result.details` for per-dialect figures."""
    params: dict[str, Any] = {"paths": list(paths), "format": format}
    with recorded_job_run(ctx, JOB_NAME, params) as result:
        forced = dialects.get(format) if format else None
        storage_options = ctx.settings.storage_options_for(paths[0]) if paths else {}
        refs = sources.resolve(list(paths), storage_options)
        stats = IngestStats(files=len(refs))
        batch_id = uuid.uuid4().hex
        writer = BronzeWriter(ctx, batch_id)

        fingerprints: list[str] = []
        pending: list[ParsedBatch] = []
        pending_rows = 0
        commit_no = 0
        files_seen: set[tuple[str, str]] = set()
        total_bytes = sum(r.size for r in refs)
        ctx.progress.start(f"ingest {len(refs)} file(s)", total_bytes)

        def flush() -> None:
            nonlocal pending, pending_rows, commit_no
            batches, pending, pending_rows = pending, [], 0
            if not batches:
                return
            commit_no += 1
            # The app transaction names this batch by its content; a retried run skips it.
            outcome = writer.commit(
                batches, app_id=f"ingest-{stable_id(tuple(fingerprints), commit_no)}"
            )
            stats.stored += outcome.stored
            stats.duplicates += outcome.duplicates
            stats.quarantined += outcome.quarantined
            stats.skipped_batches += outcome.skipped
            result.versions_written.update(outcome.versions_written)

        units = _units(refs, storage_options, forced, batch_id, fingerprints)
        for batch in _parsed(units, total_bytes, _workers(ctx)):
            d = stats.per_dialect[batch.dialect]
            if (batch.uri, batch.dialect) not in files_seen:
                files_seen.add((batch.uri, batch.dialect))
                d.files += 1
            d.records += batch.records_read
            d.events += batch.n_events
            d.quarantined += batch.n_rejected
            stats.read += batch.records_read
            pending.append(batch)
            pending_rows += batch.n_events
            ctx.progress.advance(batch.source_bytes)
            if pending_rows >= ctx.settings.ingest.batch_rows:
                flush()
        flush()
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
