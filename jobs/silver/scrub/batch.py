"""Scrub a batch of bronze events (an Arrow table): the scrubbed batch plus its log rows.

Each column is prefiltered as a whole (see prefilter.py); only the texts the prefilter flags
are scrubbed one by one, with the placeholder key of their own run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .detectors import credential_name
from .prefilter import flag_array
from .scrubber import JSON_COLUMNS, MAP_COLUMNS, TEXT_COLUMNS, Finding, Scrubber

SCRUB_COUNT = "scrub_count"


def _with_rows(column: pa.Array | pa.ChunkedArray, rows: dict[int, Any]) -> pa.Array:
    """`column` with the values at `rows` replaced (few rows: slices around them, no Python
    conversion of the rest)."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    pieces, pos = [], 0
    for i in sorted(rows):
        pieces.append(array.slice(pos, i - pos))
        pieces.append(pa.array([rows[i]], array.type))
        pos = i + 1
    pieces.append(array.slice(pos))
    return pa.concat_arrays(pieces)


def _flagged_map_rows(column: pa.ChunkedArray) -> set[int]:
    """Rows of a map<string,string> column that may need scrubbing: a value the prefilter
    flags, or a key that names a credential (its value is judged by the name)."""
    maps = column.combine_chunks()
    if len(maps) == 0 or maps.null_count == len(maps):
        return set()
    offsets = np.asarray(maps.offsets, dtype=np.int64)
    items = set(flag_array(maps.items))
    keys = maps.keys
    credential_keys = [k for k in pc.unique(keys).to_pylist() if k and credential_name(k)]
    if credential_keys:
        mask = pc.is_in(keys, pa.array(credential_keys, pa.string()))
        items.update(np.flatnonzero(mask.to_numpy(zero_copy_only=False)).tolist())
    if not items:
        return set()
    positions = np.asarray(sorted(items), dtype=np.int64) + offsets[0]
    return set((np.searchsorted(offsets, positions, side="right") - 1).tolist())


def scrub_table(table: pa.Table, secret: str = "") -> tuple[pa.Table, list[dict[str, Any]]]:
    """`table` (bronze.events columns) with its free text scrubbed and a `scrub_count` column
    added; and one log row per replacement: run_id, event_id, field_path, kind, detector,
    placeholder, event_date (never the value)."""
    run_ids = table.column("run_id").to_pylist()
    event_ids = table.column("event_id").to_pylist()
    dates = (
        table.column("event_date").to_pylist()
        if "event_date" in table.column_names
        else [None] * table.num_rows
    )
    counts = [0] * table.num_rows
    log: list[dict[str, Any]] = []
    scrubbers: dict[str, Scrubber] = {}

    def scrubber(i: int) -> Scrubber:
        run = run_ids[i]
        if run not in scrubbers:
            scrubbers[run] = Scrubber(run, secret)
        return scrubbers[run]

    def record(i: int, found: list[Finding]) -> None:
        counts[i] += len(found)
        for f in found:
            log.append(
                {
                    "run_id": run_ids[i],
                    "event_id": event_ids[i],
                    "field_path": f.field_path,
                    "kind": f.kind,
                    "detector": f.detector,
                    "placeholder": f.placeholder,
                    "event_date": dates[i],
                }
            )

    columns = {}
    for name in (*TEXT_COLUMNS, *JSON_COLUMNS):
        if name not in table.column_names:
            continue
        column = table.column(name).combine_chunks()
        flagged = flag_array(column)
        if not flagged:
            continue
        replaced: dict[int, str] = {}
        for i, hits in sorted(flagged.items()):
            text = column[i].as_py()
            if text is None:
                continue
            found: list[Finding] = []
            s = scrubber(i)
            new = (
                s.json_text(text, name, found, hits)
                if name in JSON_COLUMNS
                else s.text(text, name, found, hits)
            )
            if found:
                replaced[i] = new
                record(i, found)
        if replaced:
            columns[name] = _with_rows(column, replaced)
    for name in MAP_COLUMNS:
        if name not in table.column_names:
            continue
        rows = _flagged_map_rows(table.column(name))
        if not rows:
            continue
        column = table.column(name)
        replaced_maps: dict[int, Any] = {}
        for i in sorted(rows):
            found = []
            new = scrubber(i).mapping(column[i].as_py(), name, found)
            if found:
                replaced_maps[i] = new
                record(i, found)
        if replaced_maps:
            columns[name] = _with_rows(column, replaced_maps)
    for name, array in columns.items():
        table = table.set_column(table.schema.get_field_index(name), name, array)
    return table.append_column(SCRUB_COUNT, pa.array(counts, pa.int32())), log
