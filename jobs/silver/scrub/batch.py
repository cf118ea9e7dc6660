"""Scrub a batch of bronze events (an Arrow table): the scrubbed batch plus its log rows.

Each column is prefiltered as a whole (see prefilter.py); only the texts the prefilter flags
are scrubbed one by one, with the placeholder key of their own run.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from .prefilter import flag
from .scrubber import JSON_COLUMNS, MAP_COLUMNS, TEXT_COLUMNS, Finding, Scrubber

SCRUB_COUNT = "scrub_count"


def _map_texts(items: list[tuple[str, str]] | None) -> str | None:
    # key=value per line: the credential-name anchors see the key, the others the value.
    return "\n".join(f"{k}={v}" for k, v in items) if items else None


def scrub_table(table: pa.Table, secret: str = "") -> tuple[pa.Table, list[dict[str, Any]]]:
    """`table` (bronze.events columns) with its free text scrubbed and a `scrub_count` column
    added; and one log row per replacement: run_id, event_id, field_path, kind, detector,
    placeholder (never the value)."""
    run_ids = table.column("run_id").to_pylist()
    event_ids = table.column("event_id").to_pylist()
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
                }
            )

    columns = {}
    for name in (*TEXT_COLUMNS, *JSON_COLUMNS):
        if name not in table.column_names:
            continue
        values = table.column(name).to_pylist()
        changed = False
        for i, hits in enumerate(flag(values)):
            if hits is None:
                continue
            found: list[Finding] = []
            s = scrubber(i)
            text = values[i]
            new = (
                s.json_text(text, name, found, hits)
                if name in JSON_COLUMNS
                else s.text(text, name, found, hits)
            )
            if found:
                values[i], changed = new, True
                record(i, found)
        if changed:
            columns[name] = pa.array(values, table.schema.field(name).type)
    for name in MAP_COLUMNS:
        if name not in table.column_names:
            continue
        values = table.column(name).to_pylist()
        changed = False
        for i, hits in enumerate(flag([_map_texts(v) for v in values])):
            if hits is None:
                continue
            found = []
            new = scrubber(i).mapping(values[i], name, found)
            if found:
                values[i], changed = new, True
                record(i, found)
        if changed:
            columns[name] = pa.array(values, table.schema.field(name).type)
    for name, array in columns.items():
        table = table.set_column(table.schema.get_field_index(name), name, array)
    return table.append_column(SCRUB_COUNT, pa.array(counts, pa.int32())), log
