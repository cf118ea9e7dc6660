"""Turn parser output into validated bronze rows and quarantine rows (columnar, for speed)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
from pydantic import ValidationError
from tracelake.schemas import EVENT_FIELDS, AgentEvent

from ..lake import catalog
from .dialects.canonical import explain
from .model import Dialect, Rejection, SourceDoc, stable_id

# Kept in quarantine per record; the full size is recorded in raw_bytes.
MAX_RAW_KEPT = 64 * 1024
# Provenance is not content: the same event read from a moved file is a duplicate, not a conflict.
_NOT_CONTENT = ("source_uri", "source_position")


def content_hash(values: dict[str, Any]) -> str:
    body = {k: v for k, v in values.items() if k not in _NOT_CONTENT}
    return hashlib.blake2b(
        orjson.dumps(body, option=orjson.OPT_SORT_KEYS), digest_size=16
    ).hexdigest()


@dataclass
class ParsedBatch:
    """Events and rejections of one source (or chunk of one), ready to write."""

    uri: str
    dialect: str
    events: pa.Table
    quarantine: pa.Table
    records_read: int
    source_bytes: int = 0

    @property
    def n_events(self) -> int:
        return self.events.num_rows

    @property
    def n_rejected(self) -> int:
        return self.quarantine.num_rows


@dataclass
class _Columns:
    names: tuple[str, ...]
    data: dict[str, list[Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.data = {n: [] for n in self.names}

    def add(self, row: dict[str, Any]) -> None:
        for name in self.names:
            self.data[name].append(row[name])

    def table(self, schema: pa.Schema) -> pa.Table:
        return pa.table(
            {n: pa.array(self.data[n], type=schema.field(n).type) for n in self.names},
            schema=schema,
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


def normalize(
    items: Iterable[AgentEvent | dict[str, Any] | Rejection],
    dialect: Dialect,
    doc: SourceDoc,
    batch_id: str,
) -> ParsedBatch:
    now = datetime.now(UTC)
    events = _Columns((*EVENT_FIELDS, "content_hash"))
    rejected: list[dict[str, Any]] = []
    read = 0

    def reject(r: Rejection) -> None:
        raw = r.raw if isinstance(r.raw, bytes) else r.raw.encode("utf-8", "surrogatepass")
        rejected.append(
            {
                "quarantine_id": stable_id(doc.uri, r.position, raw),
                "source_uri": doc.uri,
                "source_position": r.position,
                "dialect": dialect.name,
                "reason_code": r.reason_code,
                "reason": r.reason,
                "raw": raw[:MAX_RAW_KEPT].decode("utf-8", "replace"),
                "raw_bytes": len(raw),
                "quarantined_at": now,
                "batch_id": batch_id,
                "quarantine_date": now.date(),
            }
        )

    for item in items:
        read += 1
        if isinstance(item, Rejection):
            reject(item)
            continue
        if isinstance(item, dict):
            try:
                item = _event_from_dict(item, dialect, doc)
            except ValidationError as exc:
                raw = orjson.dumps(item, default=str)
                why = explain(exc, raw)
                reject(Rejection(why.reason_code, why.reason, raw, item.get("source_position")))
                continue
        values = item.__dict__
        row = dict(values)
        row["content_hash"] = content_hash(values)
        events.add(row)

    event_table = events.table(
        pa.schema([catalog.BRONZE_EVENTS.schema.field(n) for n in events.names])
    )
    n = event_table.num_rows
    event_table = event_table.append_column(
        "batch_id", pa.array([batch_id] * n, pa.string())
    ).append_column(
        "ingested_at", pa.array([now] * n, catalog.BRONZE_EVENTS.schema.field("ingested_at").type)
    )
    dates = pa.compute.cast(event_table["ts"], pa.date32()) if n else pa.array([], pa.date32())
    event_table = event_table.append_column("event_date", dates)
    quarantine = pa.Table.from_pylist(rejected, schema=catalog.BRONZE_QUARANTINE.schema)
    return ParsedBatch(doc.uri, dialect.name, event_table, quarantine, read)
