"""Turn parser output into validated bronze rows and quarantine rows (columnar, for speed).

Two ways in, one way out: a dialect either yields items (events, dicts, rejections) that are
validated one by one here, or (canonical JSONL) parses whole blocks into an Arrow table itself
(`parse_table`). Both end in `_finish`, which fills provenance, computes the content hash and
adds the lake's own columns, so every dialect's rows are made the same way.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc
import xxhash
from pydantic import ValidationError

from tracelake.schemas import EVENT_FIELDS, MAX_EVENT_BYTES, AgentEvent
from tracelake.schemas.arrow import EVENT_SCHEMA

from ..lake import catalog
from . import hashing
from .model import Dialect, Rejection, SourceDoc, stable_id
from .reasons import explain

# Kept in quarantine per record; the full size is recorded in raw_bytes.
MAX_RAW_KEPT = 64 * 1024
# Provenance is not content: the same event read from a moved file, or received live and then
# read from an exported file (another dialect), is a duplicate, not a conflict.
_NOT_CONTENT = frozenset({"source_uri", "source_position", "dialect"})
# Attributes holding a producer's own values of those fields (see canonical parsing): not
# content either.
PRODUCER_PROVENANCE_PREFIX = "producer."
_CONTENT_FIELDS = [f for f in EVENT_SCHEMA if f.name not in _NOT_CONTENT]
_NULL, _FIELD_SEP, _ENTRY_SEP, _KV_SEP = "\x00", "\x1f", "\x1d", "\x1e"


@dataclass
class ParsedBatch:
    """Events and rejections of one source (or chunk of one), ready to write."""

    uri: str
    dialect: str
    events: pa.Table
    quarantine: pa.Table
    records_read: int
    source_bytes: int = 0
    fingerprint: str = ""  # of what it would write: names the commit's app transaction

    spilled_to: str | None = None  # events live in this Arrow IPC file until unspill()
    n_spilled: int = 0

    @property
    def n_events(self) -> int:
        return self.n_spilled if self.spilled_to else self.events.num_rows

    def compute_fingerprint(self) -> ParsedBatch:
        """Fingerprint what this batch would write (event ids and content, quarantine ids), not
        the bytes it came from: the same bytes at another path can make other events."""
        digest = xxhash.xxh3_128()
        for column in (
            self.events["event_id"],
            self.events["content_hash"],
            self.quarantine["quarantine_id"],
        ):
            values = column.combine_chunks().cast(pa.string())
            joined = pc.binary_join(
                pa.ListArray.from_arrays(pa.array([0, len(values)], pa.int32()), values),
                _FIELD_SEP,
            )[0]
            digest.update(joined.as_buffer() or b"")
            digest.update(b"\x1e")
        self.fingerprint = digest.hexdigest()
        return self

    def spill(self, directory: str) -> ParsedBatch:
        """Move the events to an Arrow IPC file in `directory` (for cross-process hand-off)."""
        path = os.path.join(directory, f"{uuid.uuid4().hex}.arrow")
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, self.events.schema) as writer:
            writer.write_table(self.events)
        self.spilled_to, self.n_spilled = path, self.events.num_rows
        self.events = self.events.schema.empty_table()
        return self

    def unspill(self) -> ParsedBatch:
        """Map the spilled events back (zero-copy) and remove the file's name."""
        if self.spilled_to:
            # Not closed here: the table's buffers point into the mapping, which is released
            # with them; unlinking only removes the name.
            self.events = pa.ipc.open_file(pa.memory_map(self.spilled_to)).read_all()
            os.unlink(self.spilled_to)
            self.spilled_to = None
        return self

    @property
    def n_rejected(self) -> int:
        return self.quarantine.num_rows


@dataclass
class TableParse:
    """What a block-parsing dialect returns: events (EVENT_SCHEMA) and the rejected parts."""

    events: pa.Table
    rejections: list[Rejection]
    records_read: int


@dataclass
class EventColumns:
    """Validated events gathered row by row into columns (cheaper than a list of dicts)."""

    data: dict[str, list[Any]] = field(default_factory=lambda: {n: [] for n in EVENT_FIELDS})

    def add(self, values: dict[str, Any]) -> None:
        for name, column in self.data.items():
            column.append(values[name])

    def table(self) -> pa.Table:
        return pa.table(
            {n: pa.array(v, type=EVENT_SCHEMA.field(n).type) for n, v in self.data.items()},
            schema=EVENT_SCHEMA,
        )


def _as_text(column: pa.Array, type_: pa.DataType) -> pa.Array | str:
    """A column as exact text for hashing (timestamps as integers), nulls left null; a column
    with no value at all is its one text."""
    if column.null_count == len(column):  # common for optional fields: no per-row work
        return _NULL
    if pa.types.is_map(type_):
        return _map_as_text(column)
    if pa.types.is_timestamp(type_):
        column = column.cast(pa.int64())
    if not pa.types.is_string(column.type):
        column = column.cast(pa.string())
    return column


def _map_as_text(column: pa.Array) -> pa.Array:
    """Each map as its entries sorted by key, so entry order is not content."""
    if column.offset:  # keys/items are relative to unsliced offsets: take a fresh copy
        column = column.take(pa.array(np.arange(len(column))))
    offsets = column.offsets.to_numpy()
    lengths = np.diff(offsets)
    rows = np.repeat(np.arange(len(column)), lengths)
    entries = pa.table({"row": rows, "key": column.keys, "value": column.items})
    moved = pc.starts_with(entries["key"], PRODUCER_PROVENANCE_PREFIX)
    if pc.any(moved).as_py():  # provenance a producer wrote is no more content than ours
        entries = entries.filter(pc.invert(moved))
        counts = np.bincount(entries["row"].to_numpy(), minlength=len(column))
        offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64) + offsets[0]
    entries = entries.take(pc.sort_indices(entries, [("row", "ascending"), ("key", "ascending")]))
    joined = pc.binary_join_element_wise(
        entries["key"], pc.fill_null(entries["value"], _NULL), _KV_SEP
    ).combine_chunks()
    lists = pa.ListArray.from_arrays(pa.array(offsets - offsets[0], pa.int32()), joined)
    return pc.binary_join(lists, _ENTRY_SEP)


def _content_texts(batch: pa.RecordBatch) -> list[pa.Array | str]:
    """Each content field as text; a row's content is these joined by _FIELD_SEP, a null
    written _NULL: the bytes its content hash is taken of."""
    return [_as_text(batch.column(f.name), f.type) for f in _CONTENT_FIELDS]


def content_hashes(events: pa.Table) -> pa.Array:
    """xxh3-128 of each row's content (every event field but provenance), as 32 hex digits.

    Not a cryptographic hash: it tells a re-sent event from a changed one under the same id,
    where a 2^-128 accident is the risk, not an adversary (who could simply send a new id)."""
    # Batch by batch: combining a parsed table's chunks first would copy all of its text.
    parts = [
        hashing.xxh3_128_hex_rows(_content_texts(batch), _FIELD_SEP, _NULL)
        for batch in events.to_batches()
        if batch.num_rows
    ]
    if not parts:
        return pa.array([], pa.string())
    return parts[0] if len(parts) == 1 else pa.concat_arrays(parts)


def legacy_content_hashes(events: pa.Table) -> pa.Array:
    """The content hash of tracelake 0.1 (blake2b-128 of the same bytes). Lakes written then
    hold it; it is only computed for rows whose id is stored with another hash."""
    if events.num_rows == 0:
        return pa.array([], pa.string())
    (whole,) = events.combine_chunks().to_batches()
    rows = hashing.joined_rows(_content_texts(whole), _FIELD_SEP, _NULL).cast(pa.large_binary())
    offsets = np.frombuffer(rows.buffers()[1], np.int64)[rows.offset : rows.offset + len(rows) + 1]
    data = memoryview(rows.buffers()[2] or b"")
    return pa.array(
        [
            hashlib.blake2b(data[a:b], digest_size=16).hexdigest()
            for a, b in itertools.pairwise(offsets.tolist())
        ],
        pa.string(),
    )


def _event_from_dict(raw: dict[str, Any], dialect: Dialect, doc: SourceDoc) -> AgentEvent:
    values = {"source": dialect.producer, "dialect": dialect.name, "source_uri": doc.uri, **raw}
    if not values.get("event_id"):
        values["event_id"] = stable_id(
            values.get("source"),
            values.get("run_id"),
            values.get("source_position"),
            orjson.dumps(
                {k: v for k, v in raw.items() if k != "event_id"},
                option=orjson.OPT_SORT_KEYS,
                default=str,
            ),
        )
    return AgentEvent.model_validate(values)


def collect_items(
    items: Iterable[AgentEvent | dict[str, Any] | Rejection], dialect: Dialect, doc: SourceDoc
) -> TableParse:
    """Validate parser items one by one into an event table and a list of rejections."""
    events = EventColumns()
    rejections: list[Rejection] = []
    read = 0
    for item in items:
        read += 1
        if isinstance(item, Rejection):
            rejections.append(item)
            continue
        if isinstance(item, dict):
            try:
                item = _event_from_dict(item, dialect, doc)
            except ValidationError as exc:
                raw = orjson.dumps(item, default=str)
                why = explain(exc, raw)
                rejections.append(
                    Rejection(why.reason_code, why.reason, raw, item.get("source_position"))
                )
                continue
        events.add(item.__dict__)
    return TableParse(events.table(), rejections, read)


def _quarantine_table(
    rejections: list[Rejection], dialect: str, doc: SourceDoc, batch_id: str, now: datetime
) -> pa.Table:
    rows = []
    for r in rejections:
        raw = r.raw if isinstance(r.raw, bytes) else r.raw.encode("utf-8", "surrogatepass")
        rows.append(
            {
                "quarantine_id": stable_id(doc.uri, r.position, raw),
                "source_uri": doc.uri,
                "source_position": r.position,
                "dialect": dialect,
                "reason_code": r.reason_code,
                "reason": r.reason,
                "raw": raw[:MAX_RAW_KEPT].decode("utf-8", "replace"),
                "raw_bytes": r.size if r.size is not None else len(raw),
                "quarantined_at": now,
                "batch_id": batch_id,
                "quarantine_date": now.date(),
            }
        )
    return pa.Table.from_pylist(rows, schema=catalog.BRONZE_QUARANTINE.schema)


def _row_bytes(events: pa.Table) -> np.ndarray:
    """Bytes of text each event holds (strings and attribute entries): its stored size."""
    total = np.zeros(events.num_rows, np.int64)
    for f in EVENT_SCHEMA:
        column = events[f.name].combine_chunks()
        if pa.types.is_string(f.type):
            total += pc.fill_null(pc.binary_length(column), 0).to_numpy(zero_copy_only=False)
        elif pa.types.is_map(f.type) and len(column):
            if column.offset:
                column = column.take(pa.array(np.arange(len(column))))
            sizes = pc.add(
                pc.fill_null(pc.binary_length(column.keys), 0),
                pc.fill_null(pc.binary_length(column.items), 0),
            ).to_numpy(zero_copy_only=False)
            ends = np.concatenate(([0], np.cumsum(sizes, dtype=np.int64)))
            offsets = column.offsets.to_numpy() - column.offsets[0].as_py()
            total += ends[offsets[1:]] - ends[offsets[:-1]]
    return total


def _without_oversize(parsed: TableParse) -> TableParse:
    """Move events over the per-event limit to the rejections. Canonical lines are limited as
    they are read; the other dialects build events from larger documents, so their events are
    measured here, once they exist."""
    events = parsed.events
    if events.num_rows == 0:
        return parsed
    sizes = _row_bytes(events)
    over = np.flatnonzero(sizes > MAX_EVENT_BYTES)
    if not len(over):
        return parsed
    rejections = list(parsed.rejections)
    for i, row in zip(over, events.take(pa.array(over)).to_pylist(), strict=True):
        raw = orjson.dumps(row, default=str)
        rejections.append(
            Rejection(
                "oversize",
                f"event is {int(sizes[i])} bytes, over the {MAX_EVENT_BYTES}-byte limit; "
                "store large payloads elsewhere and reference them",
                raw[:MAX_RAW_KEPT],
                row["source_position"],
                len(raw),
            )
        )
    keep = np.setdiff1d(np.arange(events.num_rows), over)
    return TableParse(events.take(pa.array(keep)), rejections, parsed.records_read)


def _finish(parsed: TableParse, dialect: str, doc: SourceDoc, batch_id: str) -> ParsedBatch:
    now = datetime.now(UTC)
    if dialect != "canonical":
        parsed = _without_oversize(parsed)
    events = parsed.events
    n = events.num_rows
    # Provenance is tracelake's to set, never the producer's (canonical parsing moves a
    # producer's values to attributes).
    events = events.set_column(
        events.schema.get_field_index("source_uri"),
        "source_uri",
        pa.repeat(pa.scalar(doc.uri, pa.string()), n),
    )
    if n and pc.any(pc.not_equal(events["dialect"], dialect)).as_py():
        events = events.set_column(
            events.schema.get_field_index("dialect"),
            "dialect",
            pa.repeat(pa.scalar(dialect, pa.string()), n),
        )
    schema = catalog.BRONZE_EVENTS.schema
    events = (
        events.append_column(schema.field("content_hash"), content_hashes(events))
        .append_column(schema.field("batch_id"), pa.repeat(pa.scalar(batch_id), n))
        .append_column(
            schema.field("ingested_at"),
            pa.repeat(pa.scalar(now, schema.field("ingested_at").type), n),
        )
        .append_column(schema.field("event_date"), pc.cast(events["ts"], pa.date32()))
    )
    quarantine = _quarantine_table(parsed.rejections, dialect, doc, batch_id, now)
    return ParsedBatch(doc.uri, dialect, events, quarantine, parsed.records_read)


def normalize(
    items: Iterable[AgentEvent | dict[str, Any] | Rejection],
    dialect: Dialect,
    doc: SourceDoc,
    batch_id: str,
) -> ParsedBatch:
    """Items from a dialect's `parse` -> bronze rows and quarantine rows."""
    return _finish(collect_items(items, dialect, doc), dialect.name, doc, batch_id)


def parse_doc(dialect: Dialect, doc: SourceDoc, batch_id: str) -> ParsedBatch:
    """Parse one document with its dialect, through the block path when the dialect has one."""
    parse_table = getattr(dialect, "parse_table", None)
    if parse_table is not None:
        return _finish(parse_table(doc), dialect.name, doc, batch_id)
    return normalize(dialect.parse(doc), dialect, doc, batch_id)
