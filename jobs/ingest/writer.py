"""Commit parsed batches to bronze: deduplicate, quarantine conflicts, append exactly once.

Shared by file ingest and the live OTLP collector.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ..context import JobContext
from ..lake import catalog
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
    """Keeps the first occurrence of each event_id; the rest are duplicates or conflicts.

    The common case (no id seen before, none repeated in the batch) is decided with Arrow
    kernels; only rows whose id collides are compared one by one.
    """

    def __init__(self, existing: pa.Table) -> None:
        self.ids = [existing["event_id"].combine_chunks()]
        self.hashes = [existing["content_hash"].combine_chunks()]

    def _seen_ids(self) -> pa.Array:
        return pa.concat_arrays(self.ids) if self.ids else pa.array([], pa.string())

    def split(self, events: pa.Table) -> tuple[pa.Table, int, pa.Table]:
        ids = events["event_id"].combine_chunks()
        seen = self._seen_ids()
        collides = pc.is_in(ids, value_set=seen) if len(seen) else None
        unique_in_batch = len(pc.unique(ids)) == len(ids)
        if unique_in_batch and (collides is None or not pc.any(collides).as_py()):
            self._remember(ids, events["content_hash"].combine_chunks())
            return events, 0, events.schema.empty_table()
        return self._split_slowly(events, ids, seen, collides)

    def _remember(self, ids: pa.Array, hashes: pa.Array) -> None:
        self.ids.append(ids)
        self.hashes.append(hashes)

    def _split_slowly(
        self, events: pa.Table, ids: pa.Array, seen: pa.Array, collides: pa.Array | None
    ) -> tuple[pa.Table, int, pa.Table]:
        # Only the stored ids this batch collides with are needed as a dict.
        stored: dict[str, str] = {}
        if collides is not None:
            hit = pc.is_in(seen, value_set=pc.filter(ids, collides))
            stored = dict(
                zip(
                    pc.filter(seen, hit).to_pylist(),
                    pc.filter(pa.concat_arrays(self.hashes), hit).to_pylist(),
                    strict=True,
                )
            )
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
        fresh = events.take(pa.array(keep, pa.int64()))
        self._remember(fresh["event_id"].combine_chunks(), fresh["content_hash"].combine_chunks())
        return fresh, duplicates, events.take(pa.array(conflicts, pa.int64()))


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

    Event ids already stored (or seen earlier in this writer) are duplicates when the content
    matches and quarantined conflicts when it does not: bronze events are immutable.
    """

    def __init__(self, ctx: JobContext, batch_id: str) -> None:
        self.ctx = ctx
        self.batch_id = batch_id
        ctx.lake.ensure(catalog.BRONZE_EVENTS)
        ctx.lake.ensure(catalog.BRONZE_QUARANTINE)
        self._dedupe = _Deduplicator(
            ctx.lake.read(catalog.BRONZE_EVENTS, columns=["event_id", "content_hash"])
        )

    def commit(
        self, batches: list[ParsedBatch], app_id: str | None, app_version: int = 1
    ) -> CommitOutcome:
        """Commit batches; `app_id`/`app_version` is the Delta app transaction that makes a
        retry a no-op (a stream may keep one app_id and raise the version per commit)."""
        lake = self.ctx.lake
        outcome = CommitOutcome()
        events = pa.concat_tables([b.events for b in batches])
        quarantine = pa.concat_tables([b.quarantine for b in batches])
        fresh, outcome.duplicates, conflicts = self._dedupe.split(events)
        if conflicts.num_rows:
            quarantine = pa.concat_tables(
                [quarantine, _conflicts_to_quarantine(conflicts, self.batch_id)]
            )
        fresh_quarantine = _dedupe_quarantine(self.ctx, quarantine)
        # Already quarantined by an earlier run: counted as duplicates, so that every record
        # read is stored, a duplicate or quarantined.
        outcome.duplicates += quarantine.num_rows - fresh_quarantine.num_rows
        quarantine = fresh_quarantine
        txn = (app_id, app_version) if app_id else None
        metadata = {"job": "ingest", "batch_id": self.batch_id}
        if quarantine.num_rows:
            version = lake.append(
                catalog.BRONZE_QUARANTINE, quarantine, app_txn=txn, metadata=metadata
            )
            if version is not None:
                outcome.quarantined = quarantine.num_rows
                outcome.versions_written[catalog.BRONZE_QUARANTINE.qualified_name] = version
        if fresh.num_rows:
            version = lake.append(catalog.BRONZE_EVENTS, fresh, app_txn=txn, metadata=metadata)
            if version is None:
                outcome.skipped += 1
                outcome.duplicates += fresh.num_rows
            else:
                outcome.stored = fresh.num_rows
                outcome.versions_written[catalog.BRONZE_EVENTS.qualified_name] = version
        return outcome
