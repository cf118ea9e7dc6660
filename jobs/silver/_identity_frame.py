"""The identity of every component name in a set of events, as a small Spark DataFrame to
join on: canonicalisation runs in Python once per distinct (name, kind, version)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from .component_identity import identify

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

NAME_COLUMNS = ("component_name", "component_kind", "component_version")
IDENTITY_DDL = (
    "raw_name string, raw_kind string, raw_version string, component string, kind string, "
    "version string, version_key string, resolved boolean"
)


def version_key(version: str) -> str:
    """A string that sorts like the version: numeric parts zero-padded (`1.10.0` > `1.9.0`)."""
    parts = re.split(r"[.\-+]", version)
    return ".".join(p.zfill(8) if p.isdigit() else p for p in parts)


def identities(events: DataFrame, names: Sequence[tuple] | None = None) -> DataFrame:
    """raw (name, kind, version) -> identity, for every component name in `events`.

    names: the distinct (name, kind, version) triples of `events` when the caller already has
    them (`distinct_names` of the Arrow table the frame was made from): saves a Spark job."""
    if names is None:
        names = (
            events.where("component_name IS NOT NULL").select(*NAME_COLUMNS).distinct().collect()
        )
    rows = []
    for name, kind, version in names:
        ident = identify(name, kind, version)
        if ident is None:
            continue
        rows.append(
            (
                name,
                kind,
                version,
                ident.component,
                ident.kind,
                ident.version,
                version_key(ident.version),
                ident.resolved,
            )
        )
    return events.sparkSession.createDataFrame(rows, IDENTITY_DDL)


def distinct_names(events: pa.Table) -> list[tuple]:
    """The distinct (component_name, component_kind, component_version) of events with a name."""
    named = events.select(list(NAME_COLUMNS)).filter(pc.is_valid(events["component_name"]))
    distinct = named.group_by(list(NAME_COLUMNS)).aggregate([])
    return list(zip(*(distinct[c].to_pylist() for c in NAME_COLUMNS), strict=True))
