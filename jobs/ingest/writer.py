"""Commit parsed batches to bronze: deduplicate, quarantine conflicts, append exactly once.

Shared by file ingest and the live OTLP collector.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable

from ..context import JobContext
from ..errors import TracelakeError, WriterFenceError
from ..lake import catalog
from ..lake.store import read_data_file
from .model import stable_id
from .normalize import MAX_RAW_KEPT, ParsedBatch


@dataclass
class CommitOutcome:
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    skipped: int = 0  # batches whose app transaction was already committed
    versions_written: dict[str, int] = field(default_factory=dict)


class _Deduplicator:
    """What bronze.events already holds (event_id -> content_hash), and the split of a batch
    into new rows, duplicates and conflicts.

    The common case (no id stored before, none repeated in the batch) is decided with Arrow
    kernels; only rows whose id collides are compared one by one. Membership is tested by
    scanning the stored ids against a set built from the (small) batch, never the reverse.
    """

    def __init__(self) -> None:
        self.ids: list[pa.Array] = []
        self.hashes: list[pa.Array] = []

    def remember(self, ids: pa.Array, hashes: pa.Array) -> None:
        if len(ids):
            self.ids.append(ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids)
            self.hashes.append(
                hashes.combine_chunks() if isinstance(hashes, pa.ChunkedArray) else hashes
            )

    def _stored(self, ids: pa.Array) -> dict[str, str]:
        """Stored ids among `ids`, with their content hashes."""
        found: dict[str, str] = {}
        for seen, hashes in zip(self.ids, self.hashes, strict=True):
            hit = pc.is_in(seen, value_set=ids)
            if pc.any(hit).as_py():
                found.update(
                    zip(
                        pc.filter(seen, hit).to_pylist(),
                        pc.filter(hashes, hit).to_pylist(),
                        strict=True,
                    )
                )
        return found

    def split(self, events: pa.Table) -> tuple[pa.Table, int, pa.Table]:
        """(new rows, number of duplicates, conflicting rows); remembers nothing."""
        ids = events["event_id"].combine_chunks()
        stored = self._stored(ids) if len(ids) else {}
        if not stored and len(pc.unique(ids)) == len(ids):
            return events, 0, events.schema.empty_table()
        keep: list[int] = []
        conflicts: list[int] = []
        duplicates = 0
        hashes = events["content_hash"].to_pylist()
        for i, (event_id, digest) in enumerate(zip(ids.to_pylist(), hashes, strict=True)):
            prev = stored.get(event_id)
            if prev is None:
                stored[event_id] = digest
                keep.append(i)
            elif prev == digest:
                duplicates += 1
            else:
                conflicts.append(i)
        return (
            events.take(pa.array(keep, pa.int64())),
            duplicates,
            events.take(pa.array(conflicts, pa.int64())),
        )


def _conflicts_to_quarantine(conflicts: pa.Table, batch_id: str) -> pa.Table:
    now = datetime.now(UTC)
    rows = []
    for event in conflicts.to_pylist():
        raw = orjson.dumps(
            {
                k: event[k]
                for k in catalog.BRONZE_EVENTS.schema.names
                if k not in ("batch_id", "ingested_at", "event_date")
            },
            default=str,
        )
        rows.append(
            {
                "quarantine_id": stable_id(event["source_uri"], event["source_position"], raw),
                "source_uri": event["source_uri"] or "",
                "source_position": event["source_position"],
                "dialect": event["dialect"],
                "reason_code": "id_conflict",
                "reason": (
                    f"event_id {event['event_id']!r} is already stored with different content; "
                    "events are immutable: emit the changed event under a new event_id"
                ),
                "raw": raw[:MAX_RAW_KEPT].decode("utf-8", "replace"),
                "raw_bytes": len(raw),
                "quarantined_at": now,
                "batch_id": batch_id,
                "quarantine_date": now.date(),
            }
        )
    return pa.Table.from_pylist(rows, schema=catalog.BRONZE_QUARANTINE.schema)


def _dedupe_quarantine(ctx: JobContext, quarantine: pa.Table) -> pa.Table:
    if quarantine.num_rows == 0:
        return quarantine
    stored = set(
        ctx.lake.read(catalog.BRONZE_QUARANTINE, columns=["quarantine_id"])[
            "quarantine_id"
        ].to_pylist()
    )
    keep, seen = [], set()
    for i, qid in enumerate(quarantine["quarantine_id"].to_pylist()):
        if qid not in stored and qid not in seen:
            seen.add(qid)
            keep.append(i)
    return quarantine.take(pa.array(keep, pa.int64()))


class BronzeWriter:
    """Writes batches to bronze.events and bronze.quarantine for one ingest batch id.

    Event ids already stored are duplicates when the content matches and quarantined
    conflicts when it does not: bronze events are immutable. Every events commit also carries
    the shared app transaction `WRITER_FENCE` at the next version, so two writers that decided
    against the same table state cannot both commit: the loser catches up with what the
    winner stored, decides again and retries.
    """

    WRITER_FENCE = "tracelake-bronze-writer"
    MAX_FENCE_RETRIES = 20

    def __init__(self, ctx: JobContext, batch_id: str) -> None:
        self.ctx = ctx
        self.batch_id = batch_id
        ctx.lake.ensure(catalog.BRONZE_EVENTS)
        ctx.lake.ensure(catalog.BRONZE_QUARANTINE)
        self._dedupe = _Deduplicator()
        self._known_files: set[str] = set()
        self._catch_up()

    def _catch_up(self) -> DeltaTable:
        """Remember the ids of every events file committed since we last looked."""
        lake = self.ctx.lake
        table = lake.ensure(catalog.BRONZE_EVENTS)
        files = lake.files(catalog.BRONZE_EVENTS, version=table.version())
        new = [f for f in files if f.uri not in self._known_files]
        if new:
            columns = ["event_id", "content_hash"]
            parts = [
                read_data_file(f, catalog.BRONZE_EVENTS, columns, lake.storage_options) for f in new
            ]
            stored = pa.concat_tables(parts)
            self._dedupe.remember(stored["event_id"], stored["content_hash"])
            self._known_files.update(f.uri for f in new)
        return table

    def commit(
        self, batches: list[ParsedBatch], app_id: str | None, app_version: int = 1
    ) -> CommitOutcome:
        """Commit batches; `app_id`/`app_version` is the Delta app transaction that makes a
        retry a no-op (a stream may keep one app_id and raise the version per commit)."""
        events = pa.concat_tables([b.events for b in batches])
        rejected = pa.concat_tables([b.quarantine for b in batches])
        txn = (app_id, app_version) if app_id else None
        for _ in range(self.MAX_FENCE_RETRIES):
            try:
                return self._commit_once(events, rejected, txn)
            except WriterFenceError:
                continue  # another writer committed first: decide again against its rows
        raise TracelakeError(
            f"gave up after {self.MAX_FENCE_RETRIES} attempts: other ingest writers kept "
            f"committing to {self.ctx.lake.uri(catalog.BRONZE_EVENTS)}; retry later"
        )

    def _commit_once(
        self, events: pa.Table, rejected: pa.Table, txn: tuple[str, int] | None
    ) -> CommitOutcome:
        lake = self.ctx.lake
        outcome = CommitOutcome()
        table = self._catch_up()
        fence = (self.WRITER_FENCE, (table.transaction_version(self.WRITER_FENCE) or 0) + 1)
        fresh, outcome.duplicates, conflicts = self._dedupe.split(events)
        quarantine = rejected
        if conflicts.num_rows:
            quarantine = pa.concat_tables(
                [quarantine, _conflicts_to_quarantine(conflicts, self.batch_id)]
            )
        fresh_quarantine = _dedupe_quarantine(self.ctx, quarantine)
        # Already quarantined by an earlier run: counted as duplicates, so that every record
        # read is stored, a duplicate or quarantined.
        outcome.duplicates += quarantine.num_rows - fresh_quarantine.num_rows
        quarantine = fresh_quarantine
        metadata = {"job": "ingest", "batch_id": self.batch_id}
        if quarantine.num_rows:
            version = lake.append(
                catalog.BRONZE_QUARANTINE, quarantine, app_txn=txn, metadata=metadata
            )
            if version is None:  # this batch's quarantine was committed by an earlier try
                outcome.duplicates += quarantine.num_rows
            else:
                outcome.quarantined = quarantine.num_rows
                outcome.versions_written[catalog.BRONZE_QUARANTINE.qualified_name] = version
        if fresh.num_rows:
            version = lake.append(
                catalog.BRONZE_EVENTS, fresh, app_txn=txn, metadata=metadata, fence=fence
            )
            if version is None:
                outcome.skipped += 1
                outcome.duplicates += fresh.num_rows
            else:
                outcome.stored = fresh.num_rows
                outcome.versions_written[catalog.BRONZE_EVENTS.qualified_name] = version
                self._dedupe.remember(fresh["event_id"], fresh["content_hash"])
                if version == table.version() + 1:  # nobody else committed: no need to
                    self._known_files = {  # read back the files we just wrote
                        f.uri for f in lake.files(catalog.BRONZE_EVENTS, version=version)
                    }
        return outcome
