"""Commit plumbing shared by every Delta writer (delta-rs `Lake` writes, the Spark data source's
driver commit, ingest and the collector through `Lake`): how many times a commit is retried,
the commit's metadata, its app transactions, and the "was this already committed?" check that
makes a retried write a no-op."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from deltalake import CommitProperties, DeltaTable, Transaction

from .commit_info import custom_metadata

# Conflict retries delta-rs makes for one commit (appends from concurrent writers rebase).
MAX_COMMIT_RETRIES = 25


def commit_metadata(metadata: Mapping[str, Any] | None) -> dict[str, str]:
    """Commit info values as strings, under names no Delta reader mistakes for its own fields."""
    return custom_metadata(metadata)


def commit_properties(
    metadata: Mapping[str, Any] | None, app_txns: Iterable[tuple[str, int]] = ()
) -> CommitProperties:
    """CommitProperties with the metadata, the retries and one app transaction per (id, version)."""
    now_ms = int(time.time() * 1000)
    txns = [Transaction(app_id, int(version), now_ms) for app_id, version in app_txns]
    return CommitProperties(
        custom_metadata=commit_metadata(metadata) or None,
        max_commit_retries=MAX_COMMIT_RETRIES,
        app_transactions=txns or None,
    )


def committed_version(table: DeltaTable, app_id: str, version: int) -> int | None:
    """The version `app_id` already committed to `table` when it is `version` or later (so this
    write was done before and must not be repeated), else None."""
    seen = table.transaction_version(app_id)
    return seen if seen is not None and seen >= version else None
