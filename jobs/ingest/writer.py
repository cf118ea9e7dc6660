"""Commit parsed batches to bronze: deduplicate, quarantine conflicts, append exactly once.

Shared by file ingest and the live OTLP collector. Deduplication against history goes through
the persistent id index bronze.event_keys (jobs/ingest/event_keys.py) and the bronze rows it
does not cover yet; with `ingest.key_index` off, through every stored id read at start.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import unquote

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable

from ..context import JobContext
from ..errors import TracelakeError, WriterFenceError
from ..lake import catalog
from ..lake.files import StagedFiles
from . import event_keys
from .event_keys import Chunk, KeyIndex
from .model import stable_id
from .normalize import MAX_RAW_KEPT, ParsedBatch, legacy_content_hashes

log = logging.getLogger("tracelake.ingest")

_MERGE_BELOW_ROWS = 8_000_000


@dataclass
class CommitOutcome:
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    skipped: int = 0  # batches whose app transaction was already committed
    versions_written: dict[str, int] = field(default_factory=dict)


class _Deduplicator:
    """What bronze.events holds (event_id -> content_hash), what this writer has staged but not
    committed yet, and the split of a batch into new rows, duplicates and conflicts.

    What is stored is known from two places: `history`, the persistent index
    (bronze.event_keys, looked up for the batch's ids only), and the ids held in memory: the
    rows the index does not cover, read from bronze, and this writer's own commits. Without
    an index, memory holds every stored id.

    The common case (no id seen before, none repeated in the batch) is decided with Arrow
    kernels; only rows whose id collides are compared one by one. Membership is tested by
    scanning the known ids against a set built from the (small) batch, never the reverse.
    """

    def __init__(self) -> None:
        self.history: KeyIndex | None = None
        self.index_rows_read = 0  # index rows read by lookups (what tests bound)
        self.ids: list[pa.Array] = []
        self.hashes: list[pa.Array] = []
        self.staged_ids: list[pa.Array] = []
        self.staged_hashes: list[pa.Array] = []
        self.staged_looked_up_in: list[KeyIndex | None] = []
        self.staged_history_hits: dict[str, str] = {}

    @staticmethod
    def _flat(column: pa.Array | pa.ChunkedArray) -> pa.Array:
        return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column

    def remember(self, ids: pa.Array, hashes: pa.Array) -> None:
        if len(ids):
            self.ids.append(self._flat(ids))
            self.hashes.append(self._flat(hashes))
            self._merge()

    def _merge(self) -> None:
        # Each membership test builds a hash set of the batch's ids once per chunk scanned:
        # keep the chunks few. Only small chunks are merged (as large strings: no 2 GiB
        # offset limit), so a big table is not copied again at every commit.
        small = [i for i, ids in enumerate(self.ids) if len(ids) < _MERGE_BELOW_ROWS]
        if len(small) > 4:
            merged_ids = pa.concat_arrays([self.ids[i].cast(pa.large_string()) for i in small])
            merged_hashes = pa.concat_arrays(
                [self.hashes[i].cast(pa.large_string()) for i in small]
            )
            self.ids = [a for i, a in enumerate(self.ids) if i not in small] + [merged_ids]
            self.hashes = [a for i, a in enumerate(self.hashes) if i not in small] + [merged_hashes]

    def stage(
        self,
        ids: pa.Array,
        hashes: pa.Array,
        looked_up_in: KeyIndex | None = None,
        history_hits: dict[str, str] | None = None,
    ) -> None:
        """Add staged rows; `looked_up_in` is the history their ids were looked up in when
        staged, and `history_hits` what it found, so the commit need not look again."""
        if len(ids):
            self.staged_ids.append(self._flat(ids))
            self.staged_hashes.append(self._flat(hashes))
            self.staged_looked_up_in.append(looked_up_in)
            self.staged_history_hits.update(history_hits or {})

    def staged_history(self) -> dict[str, str] | None:
        """What the current history holds for every staged id, when each was looked up in it
        as it was staged (the index's files never change, so the answer stands); else None."""
        if self.history is None or any(h is not self.history for h in self.staged_looked_up_in):
            return None
        return dict(self.staged_history_hits)

    def promote(self) -> None:
        """The staged rows were committed."""
        self.ids += self.staged_ids
        self.hashes += self.staged_hashes
        self.forget_staged()
        self._merge()

    def forget_staged(self) -> None:
        self.staged_ids, self.staged_hashes = [], []
        self.staged_looked_up_in, self.staged_history_hits = [], {}

    def forget_remembered(self) -> None:
        """The index now covers every row held in memory."""
        self.ids, self.hashes = [], []

    def history_hits(self, ids: pa.Array, contents: pa.Array | None = None) -> dict[str, str]:
        """The ids among `ids` that the index holds, with their content hashes (`contents`:
        the hash each id comes with, which spares the index reads for exact copies)."""
        if self.history is None:
            return {}
        found, rows_read = self.history.lookup(ids, contents)
        self.index_rows_read += rows_read
        return found

    def _known(
        self,
        ids: pa.Array,
        staged: bool = True,
        history: dict[str, str] | None = None,
        contents: pa.Array | None = None,
    ) -> dict[str, str]:
        """Stored (and staged) ids among `ids`, with their content hashes (`history`: what
        the index holds for them, when already looked up; `contents`: the hash each id comes
        with)."""
        found = dict(history) if history is not None else self.history_hits(ids, contents)
        known_ids = self.ids + (self.staged_ids if staged else [])
        known_hashes = self.hashes + (self.staged_hashes if staged else [])
        for seen, hashes in zip(known_ids, known_hashes, strict=True):
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

    def stored(self, ids: pa.Array, history: dict[str, str] | None = None) -> dict[str, str]:
        """Committed ids among `ids`, with their content hashes."""
        return self._known(ids, staged=False, history=history)

    def split(
        self, events: pa.Table, history: dict[str, str] | None = None
    ) -> tuple[pa.Table, int, pa.Table]:
        """(new rows, number of duplicates, conflicting rows); remembers nothing. `history`:
        what the index holds for these ids, when already looked up."""
        ids = events["event_id"].combine_chunks()
        contents = events["content_hash"].combine_chunks()
        known = self._known(ids, history=history, contents=contents) if len(ids) else {}
        if not known and _all_distinct(ids):
            return events, 0, events.schema.empty_table()
        keep: list[int] = []
        conflicts: list[int] = []
        duplicates = 0
        hashes = events["content_hash"].to_pylist()
        for i, (event_id, digest) in enumerate(zip(ids.to_pylist(), hashes, strict=True)):
            prev = known.get(event_id)
            if prev is None:
                known[event_id] = digest
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


def _all_distinct(ids: pa.Array) -> bool:
    """Whether no id repeats. Distinct id hashes prove it (a sort of integers, the common
    case); only when two hashes are equal are the ids themselves compared."""
    hashes = np.sort(event_keys.id_hashes(ids))
    if not (hashes[1:] == hashes[:-1]).any():
        return True
    return len(pc.unique(ids)) == len(ids)


def _conflict_raw(event: dict) -> bytes:
    return orjson.dumps(
        {
            k: event[k]
            for k in catalog.BRONZE_EVENTS.schema.names
            if k not in ("batch_id", "ingested_at", "event_date")
        },
        default=str,
    )


def legacy_quarantine_ids(conflicts: pa.Table) -> dict[str, str]:
    """quarantine_id -> the id tracelake 0.1 gave the same conflict (its raw text held the
    blake2b content hash), so a conflict quarantined then is not quarantined again."""
    if conflicts.num_rows == 0:
        return {}
    legacy = conflicts.set_column(
        conflicts.schema.get_field_index("content_hash"),
        "content_hash",
        legacy_content_hashes(conflicts),
    )
    return {
        stable_id(e["source_uri"], e["source_position"], _conflict_raw(e)): stable_id(
            o["source_uri"], o["source_position"], _conflict_raw(o)
        )
        for e, o in zip(conflicts.to_pylist(), legacy.to_pylist(), strict=True)
    }


def _conflicts_to_quarantine(conflicts: pa.Table, batch_id: str) -> pa.Table:
    now = datetime.now(UTC)
    rows = []
    for event in conflicts.to_pylist():
        raw = _conflict_raw(event)
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


def _dedupe_quarantine(
    ctx: JobContext, quarantine: pa.Table, aliases: dict[str, str] | None = None
) -> pa.Table:
    """Drop rows already quarantined (under their id, or the alias an older version gave them)."""
    if quarantine.num_rows == 0:
        return quarantine
    stored = set(
        ctx.lake.read(catalog.BRONZE_QUARANTINE, columns=["quarantine_id"])[
            "quarantine_id"
        ].to_pylist()
    )
    aliases = aliases or {}
    keep, seen = [], set()
    for i, qid in enumerate(quarantine["quarantine_id"].to_pylist()):
        if qid not in stored and aliases.get(qid) not in stored and qid not in seen:
            seen.add(qid)
            keep.append(i)
    return quarantine.take(pa.array(keep, pa.int64()))


class BronzeWriter:
    """Writes batches to bronze.events and bronze.quarantine for one ingest batch id.

    Event ids already stored are duplicates when the content matches and quarantined
    conflicts when it does not: bronze events are immutable.

    Writing is split in two so that data files are written while parsing goes on and a commit
    is mostly a log entry: `stage` writes each parsed batch's events to data files no reader
    sees yet; `commit_staged` decides all staged events at once against what is stored
    (rewriting the files only when some are duplicates or conflicts) and makes them visible
    in one Delta commit. Every events commit also carries the shared app transaction
    `WRITER_FENCE` at the next version, so two writers that decided against the same table
    state cannot both commit: the loser catches up with what the winner stored, decides
    again and retries.
    """

    WRITER_FENCE = "tracelake-bronze-writer"
    QUARANTINE_FENCE = "tracelake-bronze-quarantine-writer"
    MAX_FENCE_RETRIES = 20
    MAX_QUARANTINE_RETRIES = 100

    def __init__(self, ctx: JobContext, batch_id: str) -> None:
        self.ctx = ctx
        self.batch_id = batch_id
        ctx.lake.ensure(catalog.BRONZE_EVENTS)
        ctx.lake.ensure(catalog.BRONZE_QUARANTINE)
        self._dedupe = _Deduplicator()
        settings = ctx.settings.ingest
        self._use_index = settings.key_index
        # Bronze files whose rows are in memory (paths relative to the table, unquoted).
        self._read_paths: set[str] = set()
        # The bronze.events version everything up to which is known (index or memory); None
        # before the first catch-up.
        self._seen_version: int | None = None
        # Memory holds every row committed after this version (-1: every row; else the
        # index's coverage when it was opened).
        self._memory_from = -1
        # Rows in memory the index may not hold yet, appended once there are enough.
        self._unindexed: list[Chunk] = []
        # False once this writer cannot vouch for an append (an erasure, a gap in the log).
        self._may_index = self._use_index
        self.bronze_rows_read = 0  # bronze rows read to catch up (what tests bound)
        self._walked: tuple[tuple[int, int], event_keys.NewRows | None] | None = None
        self._staged: StagedFiles | None = None
        self._quarantine: list[pa.Table] = []
        self._quarantine_aliases: dict[str, str] = {}
        self._outcome = CommitOutcome()
        # A stage that failed: this batch cannot be committed whole any more.
        self._failed: BaseException | None = None
        # The staged files were in a commit whose fate is unknown: never delete them.
        self._maybe_committed = False
        self._catch_up()

    def _catch_up(self) -> DeltaTable:
        """Know every events row committed up to the table's current version: through the
        index for the rows it covers, in memory for the rows committed since (read from the
        files that hold them)."""
        table = self.ctx.lake.ensure(catalog.BRONZE_EVENTS)
        if self._seen_version is None:
            self._seen_version = self._open_history(table)
        else:
            self._follow_history(table)
        if table.version() > self._seen_version:
            self._read_rows_since(table, self._seen_version)
            self._seen_version = table.version()
        return table

    def _open_history(self, table: DeltaTable) -> int:
        """Open the index for deciding; returns the bronze version it covers, or -1 when there
        is no usable index (every stored row is then read, as without one)."""
        if not self._use_index:
            self._may_index = False
            return -1
        index = event_keys.open_index(self.ctx.lake, table)
        if index is None:
            return -1  # no index yet: this writer reads everything and may start one
        if index.covered_version < table.version():
            new = self._rows_added_since(table, index.covered_version)
            if new is None or new.removed_data:
                # The stored set shrank (an erasure) or the log no longer says what came after
                # the index: it cannot decide exactly. Read everything; maintenance rebuilds it.
                log.warning(
                    "bronze.event_keys covers version %d, but %s since: reading every stored "
                    "id instead (`tracelake maintain` rebuilds the index)",
                    index.covered_version,
                    "rows were removed" if new else "the log entries are gone",
                )
                self._may_index = False
                return -1
        self._dedupe.history = index
        self._memory_from = index.covered_version
        return index.covered_version

    def _follow_history(self, events: DeltaTable) -> None:
        """Follow the index's own commits (appends, merges, a rebuild), so that a long-lived
        writer never reads an index file that a merge replaced and VACUUM may delete."""
        history = self._dedupe.history
        if history is None:
            return
        keys = self.ctx.lake.table(catalog.BRONZE_EVENT_KEYS)
        if keys is None or keys.version() == history.table_version:
            return
        index = event_keys.open_index(self.ctx.lake, events, history.files, keys)
        # The index plus memory must still hold every row: memory starts at `_memory_from`.
        if index is not None and index.covered_version >= self._memory_from:
            self._dedupe.history = index

    def _rows_added_since(self, table: DeltaTable, after: int) -> event_keys.NewRows | None:
        """Where the rows committed after `after` are (the walk is kept: opening the index
        and reading the tail ask the same question)."""
        key = (after, table.version())
        if self._walked is None or self._walked[0] != key:
            self._walked = (key, event_keys.rows_added_since(self.ctx.lake, *key))
        return self._walked[1]

    def _read_rows_since(self, table: DeltaTable, after: int) -> None:
        """Read into memory the rows committed after version `after` (-1: all)."""
        lake = self.ctx.lake
        new = self._rows_added_since(table, after) if after >= 0 else None
        if new is None:  # everything, or a gap in the log: every live file not read yet
            paths = event_keys.live_paths(table)
            if after >= 0:
                self._may_index = False
        else:
            paths = new.paths
            # A live writer keeps the ids an erasure removed (as without the index), but must
            # not move the index's coverage past the erasure.
            self._may_index &= not new.removed_data
        fresh = paths - self._read_paths
        if not fresh:
            return
        stored = event_keys.read_keys(lake, fresh)
        self._dedupe.remember(stored["event_id"], stored["content_hash"])
        self._read_paths |= fresh
        self._unindexed.append(Chunk(table.version(), stored))
        self.bronze_rows_read += stored.num_rows

    def commit(
        self, batches: list[ParsedBatch], app_id: str | None, app_version: int = 1
    ) -> CommitOutcome:
        """Stage and commit batches; `app_id`/`app_version` is the Delta app transaction that
        makes a retry a no-op (a stream may keep one app_id and raise the version per commit)."""
        try:
            for batch in batches:
                self.stage(batch)
        except BaseException:
            self.abort()
            raise
        return self.commit_staged(app_id, app_version)

    def stage(self, batch: ParsedBatch) -> None:
        """Write a parsed batch's events to data files that stay invisible until
        `commit_staged`, which decides them all at once (optimistically: in the common case,
        with no id seen before, the files are committed as written)."""
        if self._failed is not None:
            return  # commit_staged reports the first failure
        try:
            self._quarantine.append(batch.quarantine)
            events, history = self._without_stored_copies(batch.events)
            if events.num_rows:
                if self._staged is None:
                    self._staged = self.ctx.lake.stage(catalog.BRONZE_EVENTS)
                self._staged.write(events)
                self._dedupe.stage(
                    events["event_id"], events["content_hash"], self._dedupe.history, history
                )
        except BaseException as exc:
            # The files may hold part of this batch, not recorded as staged: commit none of it.
            self._failed = exc
            raise

    def _without_stored_copies(self, events: pa.Table) -> tuple[pa.Table, dict[str, str]]:
        """Drop the events already stored with the same content before they are written (a
        re-sent batch, an exporter retry): otherwise the commit would find them duplicates
        and read back and rewrite every staged file. Only exact copies of what is known to be
        stored go: a conflict, a legacy hash or a repeat within the batch is decided at commit
        as before, and what other writers stored since the last look is found there too.
        Also returns what the index holds for these ids, which the commit then reuses."""
        if not events.num_rows:
            return events, {}
        ids = events["event_id"].combine_chunks()
        try:
            history = self._dedupe.history_hits(ids, events["content_hash"].combine_chunks())
        except FileNotFoundError:
            # A merge replaced an index file this writer opened and VACUUM deleted it (staging
            # runs between commits, before the catch-up that follows the index): follow it.
            self._follow_history(self.ctx.lake.ensure(catalog.BRONZE_EVENTS))
            history = self._dedupe.history_hits(ids, events["content_hash"].combine_chunks())
        stored = self._dedupe.stored(ids, history)
        if not stored:
            return events, history
        hashes = events["content_hash"].to_pylist()
        keep = [stored.get(i) != h for i, h in zip(ids.to_pylist(), hashes, strict=True)]
        self._outcome.duplicates += len(keep) - sum(keep)
        return events.filter(pa.array(keep)), history

    def commit_staged(self, app_id: str | None, app_version: int = 1) -> CommitOutcome:
        """Commit everything staged: events in one commit, then quarantine rows in one."""
        txn = (app_id, app_version) if app_id else None
        try:
            if self._failed is not None:
                raise TracelakeError(
                    f"nothing of this ingest batch was committed: staging it failed "
                    f"({type(self._failed).__name__}: {self._failed}); run the ingest again"
                )
            self._commit_events(txn)
            self._commit_quarantine(txn)
            self._update_index()
            return self._outcome
        finally:
            self.abort()  # what was not committed now never will be

    def abort(self) -> None:
        """Forget everything staged and not committed, deleting its files (unless a commit of
        them may have landed)."""
        if self._staged is not None and not self._maybe_committed:
            self._staged.discard()
        self._staged = None
        self._dedupe.forget_staged()
        self._quarantine = []
        self._quarantine_aliases = {}
        self._outcome = CommitOutcome()
        self._failed = None
        self._maybe_committed = False

    def _commit_events(self, txn: tuple[str, int] | None) -> None:
        lake = self.ctx.lake
        metadata = {"job": "ingest", "batch_id": self.batch_id}
        for _ in range(self.MAX_FENCE_RETRIES):
            table = self._catch_up()
            if self._maybe_committed:
                if self._landed(table):  # an attempt that reported failure did commit
                    self._committed(table.version(), promote=False)  # catch-up read them
                    return
                self._maybe_committed = False
            self._decide_staged()
            staged = self._staged
            if staged is None or staged.rows == 0:
                return
            fence = (self.WRITER_FENCE, (table.transaction_version(self.WRITER_FENCE) or 0) + 1)
            files = staged.close()
            self._maybe_committed = True
            try:
                version = lake.commit_files(
                    catalog.BRONZE_EVENTS, files, app_txn=txn, metadata=metadata, fence=fence
                )
            except WriterFenceError:
                continue  # another writer committed first (or ours did): look, decide again
            except BaseException:
                if self._landed(lake.ensure(catalog.BRONZE_EVENTS)):
                    self._committed(lake.version(catalog.BRONZE_EVENTS) or 0, promote=True)
                    return
                # Not there now, but a timed-out log write may still land: the files stay
                # (unreferenced files are invisible, and VACUUM removes them).
                log.warning(
                    "commit to %s failed with an unknown outcome; its %d staged file(s) are "
                    "left in place",
                    lake.uri(catalog.BRONZE_EVENTS),
                    len(files),
                )
                raise
            self._maybe_committed = False
            if version is None:  # this batch was committed by an earlier run
                self._outcome.skipped += 1
                self._outcome.duplicates += staged.rows
                return  # the staged files are discarded by commit_staged
            self._committed(version, promote=True)
            if version == table.version() + 1:  # nobody else committed: nothing to read back
                self._seen_version = version
            return
        if self._maybe_committed:  # the last attempt's fence error may have been our own
            table = self._catch_up()
            if self._landed(table):
                self._committed(table.version(), promote=False)
                return
            self._maybe_committed = False
        raise TracelakeError(
            f"gave up after {self.MAX_FENCE_RETRIES} attempts: other ingest writers kept "
            f"committing to {lake.uri(catalog.BRONZE_EVENTS)}; retry later"
        )

    def _landed(self, table: DeltaTable) -> bool:
        """Whether the staged files are in the table's current snapshot."""
        staged = self._staged
        if staged is None or not staged.closed:
            return False
        committed = {
            unquote(path)
            for path in pa.table(table.get_add_actions(flatten=True))["path"].to_pylist()
        }
        return all(unquote(f.path) in committed for f in staged.closed)

    def _committed(self, version: int, promote: bool) -> None:
        staged, self._staged = self._staged, None
        self._maybe_committed = False
        self._outcome.stored = staged.rows if staged else 0
        self._outcome.versions_written[catalog.BRONZE_EVENTS.qualified_name] = version
        if promote:  # else the catch-up read them
            if staged is not None:
                self._read_paths |= {unquote(f.path) for f in staged.closed}
                self._unindexed.append(Chunk(version, self._staged_keys()))
            self._dedupe.promote()
        else:
            self._dedupe.forget_staged()

    def _staged_keys(self) -> pa.Table:
        return pa.table(
            {
                "event_id": pa.chunked_array(self._dedupe.staged_ids, pa.string()),
                "content_hash": pa.chunked_array(self._dedupe.staged_hashes, pa.string()),
            }
        )

    def _update_index(self) -> None:
        """Append the keys this writer holds that the index lacks, once it holds
        `ingest.key_index_append_rows` of them, declaring the bronze version it has seen
        covered; then rely on the index for them and free the memory. A failure here never
        fails the ingest: the index only lags, and the next writer reads the rows directly."""
        settings = self.ctx.settings.ingest
        pending = sum(c.keys.num_rows for c in self._unindexed)
        if not self._may_index or self._seen_version is None or pending == 0:
            return
        if pending < settings.key_index_append_rows and self._memory_from >= 0:
            return  # (a writer that read everything starts the index at once)
        lake = self.ctx.lake
        covers = self._seen_version
        try:
            events = lake.ensure(catalog.BRONZE_EVENTS)
            event_keys.append_keys(
                lake,
                events,
                self._unindexed,
                covers,
                self._memory_from,
                settings.key_index_row_group_rows,
                settings.key_index_file_rows,
            )
            index = event_keys.open_index(
                lake, events, self._dedupe.history.files if self._dedupe.history else ()
            )
        except Exception as exc:  # the events are committed; the index may lag
            log.warning("could not add keys to bronze.event_keys (it lags; harmless): %s", exc)
            return
        if index is None or index.covered_version < covers:
            return  # not covered (another bronze, a gap): keep deciding from memory
        self._dedupe.history = index
        self._dedupe.forget_remembered()
        self._unindexed = [c for c in self._unindexed if c.version > index.covered_version]
        for chunk in self._unindexed:  # own commits after what the index covers
            self._dedupe.remember(chunk.keys["event_id"], chunk.keys["content_hash"])
        self._memory_from = index.covered_version
        self._seen_version = max(covers, index.covered_version)

    def _decide_staged(self) -> None:
        """Split the staged events into new ones, duplicates and conflicts against what is
        stored now. When all are new the files stand; otherwise the staged rows are read back
        and only the new ones are written again.

        Winners are decided on the staged (id, hash) pairs, which are in input order, so the
        first occurrence of an id wins as it would without staging; the rows read back (in
        file order) are then matched to those decisions."""
        staged = self._staged
        if staged is None:
            return
        ids = pa.chunked_array(self._dedupe.staged_ids, pa.string())
        hashes = pa.chunked_array(self._dedupe.staged_hashes, pa.string())
        history = self._dedupe.staged_history()
        self._dedupe.forget_staged()
        fresh_keys, duplicates, conflict_keys = self._dedupe.split(
            pa.table({"event_id": ids, "content_hash": hashes}), history
        )
        if not duplicates and not conflict_keys.num_rows:
            looked_up_in = self._dedupe.history if history is not None else None
            self._dedupe.stage(ids, hashes, looked_up_in, history)
            return
        rows = staged.read_back()
        staged.discard()
        self._staged = None
        winners = set(zip(*fresh_keys.to_pydict().values(), strict=True))
        losers = Counter(zip(*conflict_keys.to_pydict().values(), strict=True))
        keep: list[int] = []
        conflicts: list[int] = []
        taken: set[tuple[str, str]] = set()
        pairs = zip(rows["event_id"].to_pylist(), rows["content_hash"].to_pylist(), strict=True)
        for i, key in enumerate(pairs):
            if key in winners and key not in taken:
                taken.add(key)
                keep.append(i)
            elif losers[key]:
                losers[key] -= 1
                conflicts.append(i)
        if conflicts:
            conflicts, legacy = self._not_legacy(rows, conflicts)
            duplicates += legacy
        self._outcome.duplicates += duplicates
        if conflicts:
            conflicting = rows.take(pa.array(conflicts, pa.int64()))
            self._quarantine.append(_conflicts_to_quarantine(conflicting, self.batch_id))
            self._quarantine_aliases.update(legacy_quarantine_ids(conflicting))
        if keep:
            fresh = rows.take(pa.array(keep, pa.int64()))
            self._staged = self.ctx.lake.stage(catalog.BRONZE_EVENTS)
            self._staged.write(fresh)
            self._dedupe.stage(fresh["event_id"], fresh["content_hash"])

    def _not_legacy(self, rows: pa.Table, conflicts: list[int]) -> tuple[list[int], int]:
        """Drop from `conflicts` the rows stored before under tracelake 0.1's content hash:
        they are duplicates. Returns (real conflicts, duplicates found)."""
        candidates = rows.take(pa.array(conflicts, pa.int64()))
        stored = self._dedupe.stored(candidates["event_id"].combine_chunks())
        if not stored:
            return conflicts, 0
        legacy = legacy_content_hashes(candidates).to_pylist()
        ids = candidates["event_id"].to_pylist()
        real = [
            row
            for row, event_id, digest in zip(conflicts, ids, legacy, strict=True)
            if stored.get(event_id) != digest
        ]
        return real, len(conflicts) - len(real)

    def _commit_quarantine(self, txn: tuple[str, int] | None) -> None:
        """Commit the quarantine rows not stored yet, exactly once under concurrency: like
        events, each commit carries a shared fence at the next version, so two writers that
        decided against the same quarantine table cannot both append the same record."""
        outcome = self._outcome
        quarantine = (
            pa.concat_tables(self._quarantine)
            if self._quarantine
            else catalog.BRONZE_QUARANTINE.schema.empty_table()
        )
        if not quarantine.num_rows:
            return
        lake = self.ctx.lake
        for attempt in range(self.MAX_QUARANTINE_RETRIES):
            table = lake.ensure(catalog.BRONZE_QUARANTINE)
            fresh = _dedupe_quarantine(self.ctx, quarantine, self._quarantine_aliases)
            if not fresh.num_rows:
                # Already quarantined (by an earlier run or a racing writer): counted as
                # duplicates, so that every record read is stored, a duplicate or quarantined.
                outcome.duplicates += quarantine.num_rows
                return
            fence_version = (table.transaction_version(self.QUARANTINE_FENCE) or 0) + 1
            try:
                version = lake.append(
                    catalog.BRONZE_QUARANTINE,
                    fresh,
                    app_txn=txn,
                    metadata={"job": "ingest", "batch_id": self.batch_id},
                    fence=(self.QUARANTINE_FENCE, fence_version),
                )
            except WriterFenceError:
                time.sleep(random.uniform(0, 0.05 * min(attempt + 1, 10)))
                continue  # another writer quarantined first: look again
            outcome.duplicates += quarantine.num_rows - fresh.num_rows
            if version is None:  # this batch's quarantine was committed by an earlier try
                outcome.duplicates += fresh.num_rows
            else:
                outcome.quarantined = fresh.num_rows
                outcome.versions_written[catalog.BRONZE_QUARANTINE.qualified_name] = version
            return
        raise TracelakeError(
            f"the events of this batch are stored, but its {quarantine.num_rows} quarantine "
            f"row(s) were not: other ingest writers kept committing to "
            f"{lake.uri(catalog.BRONZE_QUARANTINE)}; run the same ingest again to add them"
        )
