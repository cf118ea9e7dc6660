"""Reading an export: verify the manifest's shards, check the recipe's columns, load rows.

The trainer's only input. Shards are re-hashed before any row is read (local or s3://).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tracelake.schemas.manifest import (
    Manifest,
    ManifestError,
    ShardFormat,
    open_verified,
    resolve,
    shard_uri,
)

from .errors import TrainerInputError

# What each recipe reads; checked against the manifest's schema before training starts.
RECIPE_COLUMNS: dict[str, set[str]] = {
    "sft": {"messages", "tools", "phase", "split"},
    "dpo": {"prompt", "chosen", "rejected", "tools"},
    "constitutional": {"prompt", "chosen", "rejected", "rule", "critique_messages", "tools"},
}


def load_manifest(uri: str) -> Manifest:
    try:
        return open_verified(uri)
    except ManifestError as exc:
        raise TrainerInputError(str(exc)) from None


def check_columns(manifest: Manifest, recipe: str, uri: str) -> None:
    needed = RECIPE_COLUMNS.get(recipe)
    if needed is None:
        return
    missing = sorted(needed - manifest.column_names())
    if missing:
        raise TrainerInputError(
            f"{uri}: dataset {manifest.dataset.value!r} lacks {', '.join(missing)} that recipe "
            f"{recipe!r} needs; pass the manifest of the {recipe} export"
        )


def read_split(uri: str, manifest: Manifest, split: str) -> list[dict[str, Any]]:
    """All rows of one split as Python dicts (export sizes the trainer targets fit in memory)."""
    if manifest.format is not ShardFormat.parquet:
        raise TrainerInputError(
            f"{uri}: shards are {manifest.format.value}; the trainer reads parquet exports"
        )
    entry = manifest.splits.get(split)
    if entry is None:
        return []
    tables = []
    for shard in entry.shards:
        fs, path = resolve(shard_uri(uri, shard))
        tables.append(pq.read_table(path, filesystem=fs))
    if not tables:
        return []
    return pa.concat_tables(tables).to_pylist()
