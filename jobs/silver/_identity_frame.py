"""The identity of every component name in a set of events, as a small Spark DataFrame to
join on: canonicalisation runs in Python once per distinct (name, kind, version)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .component_identity import identify

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

IDENTITY_DDL = (
    "raw_name string, raw_kind string, raw_version string, component string, kind string, "
    "version string, version_key string, resolved boolean"
)


def version_key(version: str) -> str:
    """A string that sorts like the version: numeric parts zero-padded (`1.10.0` > `1.9.0`)."""
    parts = re.split(r"[.\-+]", version)
    return ".".join(p.zfill(8) if p.isdigit() else p for p in parts)


def identities(events: DataFrame) -> DataFrame:
    """raw (name, kind, version) -> identity, for every component name in `events`."""
    distinct = (
        events.where("component_name IS NOT NULL")
        .select("component_name", "component_kind", "component_version")
        .distinct()
        .collect()
    )
    rows = []
    for name, kind, version in distinct:
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
