"""The landing zone: find trace files that arrived and have not been ingested yet.

Design: a ledger, not a move.
  Each pickup lists the landing location (a local folder or an s3:// prefix) and compares the
  listing with the ledger table `ops.landing_files`, one row per consumed file version keyed by
  (uri, size, mtime). What is listed and not in the ledger is pending. After the ingest job has
  committed a pending set, the set is appended to the ledger in one Delta commit.

Why a ledger rather than renaming files into `_claimed/` and `_done/`:
  - S3 has no rename. A claim would be copy + delete, and a producer that re-uploads the same key
    between the copy and the delete loses its new upload. A ledger never touches the producer's
    objects, so the landing zone can even be read-only to tracelake.
  - A local file still being appended to keeps its inode when renamed; the writer's later lines
    would follow it into `_done/` unread. With the ledger the grown file has a new (size, mtime),
    so it is pending again and re-ingested; ingest deduplicates by event id, so only the new
    lines are stored.

Why nothing is ingested twice or skipped:
  - Files that land while a run is in progress are not in that run's snapshot (the ingest job is
    given the snapshot's explicit file list, never the folder), and not in the ledger, so the
    next pickup finds them.
  - The ledger is written only after the ingest committed. A crash in between leaves the files
    pending; the next run ingests them again and the ingest job's app transactions and event-id
    deduplication store nothing twice. "At least once" pickup plus an idempotent ingest is
    exactly once in bronze.
  - Two pickups running at once (an Airflow run and a CLI run) may both ingest a file; bronze
    still holds each event once, for the same reason.

Files are skipped (left for a later pickup) while they are younger than `settle_s`, to avoid
reading a file a producer is still writing; producers should still write to a hidden name
(`.name.tmp`) and rename it when complete, since hidden files are never picked up.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs

from .context import JobContext
from .errors import ConfigError
from .lake import TableSpec, catalog
from .lake.store import translate_storage_error

# The ledger table: its spec is in the catalog, its record shape in schemas/records.py.
LANDING_FILES: TableSpec = catalog.OPS_LANDING_FILES
LANDING_FILES_SCHEMA = LANDING_FILES.schema

# Folder names under the landing root that are never treated as input (tools that archive
# consumed files by hand conventionally use them).
RESERVED_DIRS = frozenset({"_done", "_claimed", "_failed", "_tracelake"})


@dataclass(frozen=True)
class LandingFile:
    """One version of one landed file."""

    uri: str
    size: int
    mtime_ns: int

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.uri, self.size, self.mtime_ns)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LandingFile:
        return cls(uri=str(data["uri"]), size=int(data["size"]), mtime_ns=int(data["mtime_ns"]))


@dataclass(frozen=True)
class Pickup:
    """What one look at the landing zone found."""

    pending: list[LandingFile]
    already_consumed: int
    settling: int  # files too young to read yet
    deferred: int  # pending files left for the next pickup (over max_files)


def _is_ignored(relative_parts: Iterable[str]) -> bool:
    parts = list(relative_parts)
    if any(p.startswith(".") for p in parts):
        return True
    return bool(parts) and parts[0] in RESERVED_DIRS


class LandingZone:
    """A landing location and its ledger in the lake."""

    def __init__(self, ctx: JobContext, root: str | None = None) -> None:
        root = root or ctx.settings.landing
        if not root:
            raise ConfigError(
                "no landing location set; set TRACELAKE_LANDING or `landing` in "
                "tracelake.toml to a folder or an s3:// prefix"
            )
        if root.startswith("s3://"):
            self.root = root.rstrip("/")
        else:
            self.root = str(Path(root).expanduser().resolve())
        self.ctx = ctx

    # -- listing ---------------------------------------------------------------------------

    def list(self) -> list[LandingFile]:
        """Every file under the landing root, hidden and reserved folders excluded, sorted."""
        if self.root.startswith("s3://"):
            return self._list_s3()
        return self._list_local()

    def _list_local(self) -> list[LandingFile]:
        root = Path(self.root)
        if not root.exists():
            return []
        if not root.is_dir():
            raise ConfigError(f"landing location {self.root} is a file; point it at a folder")
        out = []
        for path in root.rglob("*"):
            rel = path.relative_to(root).parts
            if _is_ignored(rel):
                continue
            try:
                st = path.stat()
            except FileNotFoundError:  # removed between listing and stat
                continue
            if path.is_file():
                out.append(LandingFile(str(path), st.st_size, st.st_mtime_ns))
        return sorted(out, key=lambda f: f.uri)

    def _list_s3(self) -> list[LandingFile]:
        from .ingest.sources import s3_filesystem

        fs = s3_filesystem(self.ctx.settings.storage_options_for(self.root))
        prefix = self.root.removeprefix("s3://")
        try:
            infos = fs.get_file_info(
                pafs.FileSelector(prefix, recursive=True, allow_not_found=True)
            )
        except OSError as exc:
            raise translate_storage_error(exc, self.root) or exc from None
        out = []
        for info in infos:
            if info.type != pafs.FileType.File:
                continue
            rel = info.path[len(prefix) :].strip("/").split("/")
            if _is_ignored(rel):
                continue
            mtime_ns = info.mtime_ns if info.mtime_ns is not None else 0
            out.append(LandingFile(f"s3://{info.path}", info.size or 0, mtime_ns))
        return sorted(out, key=lambda f: f.uri)

    # -- the ledger ------------------------------------------------------------------------

    def consumed(self) -> set[tuple[str, int, int]]:
        ledger = self.ctx.lake.read(LANDING_FILES, columns=["landing", "uri", "size", "mtime_ns"])
        rows = ledger.filter(pc.equal(ledger["landing"], self.root))
        return set(
            zip(
                rows["uri"].to_pylist(),
                rows["size"].to_pylist(),
                rows["mtime_ns"].to_pylist(),
                strict=True,
            )
        )

    def pending(
        self, *, settle_s: float = 0.0, max_files: int | None = None, now_ns: int | None = None
    ) -> Pickup:
        """Files not yet consumed, oldest first; at most `max_files` of them."""
        now_ns = now_ns if now_ns is not None else time.time_ns()
        listed = self.list()
        seen = self.consumed()
        fresh = [f for f in listed if f.key not in seen]
        settle_ns = int(settle_s * 1e9)
        ready = [f for f in fresh if now_ns - f.mtime_ns >= settle_ns]
        ready.sort(key=lambda f: (f.mtime_ns, f.uri))
        limit = len(ready) if max_files is None else max_files
        return Pickup(
            pending=ready[:limit],
            already_consumed=len(listed) - len(fresh),
            settling=len(fresh) - len(ready),
            deferred=max(0, len(ready) - limit),
        )

    def mark_consumed(self, files: list[LandingFile], run_key: str) -> int | None:
        """Record files as consumed in one commit. Returns the ledger version written."""
        if not files:
            return None
        now = datetime.now(UTC)
        table = pa.Table.from_pylist(
            [
                {
                    "landing": self.root,
                    "uri": f.uri,
                    "size": f.size,
                    "mtime_ns": f.mtime_ns,
                    "run_key": run_key,
                    "consumed_at": now,
                }
                for f in files
            ],
            schema=LANDING_FILES_SCHEMA,
        )
        # No app transaction: the ledger is a set, so a retried append only repeats rows that
        # `consumed()` folds together.
        return self.ctx.lake.append(LANDING_FILES, table, metadata={"run_key": run_key})


# -- the landing job: pickup + ingest + ledger, in one call --------------------------------


def ingest_pickup(ctx: JobContext, files: list[LandingFile], landing: str, run_key: str) -> Any:
    """Ingest a snapshot's files, then record them in the ledger (only after the ingest
    committed: a crash before that leaves them pending, and the re-ingest stores nothing twice).
    Returns the ingest job's result with `details["ledger_version"]` set."""
    from .ingest import job as ingest_job

    result = ingest_job.run(ctx, paths=[f.uri for f in files])
    result.details["ledger_version"] = LandingZone(ctx, landing).mark_consumed(files, run_key)
    return result


def run(
    ctx: JobContext,
    *,
    settle_s: float = 0.0,
    max_files: int | None = None,
    run_key: str | None = None,
) -> Any:
    """Ingest what landed since the last pickup (what the tracelake_ingest DAG does)."""
    from .context import JobResult

    zone = LandingZone(ctx)
    pickup = zone.pending(settle_s=settle_s, max_files=max_files)
    summary = (
        f"{pickup.already_consumed} already ingested, {pickup.settling} still settling, "
        f"{pickup.deferred} deferred"
    )
    if not pickup.pending:
        return JobResult(
            job="landing", status="noop", message=f"no new files under {zone.root} ({summary})"
        )
    key = run_key or f"cli/{datetime.now(UTC).strftime('%Y%m%dT%H%M%S.%fZ')}"
    result = ingest_pickup(ctx, pickup.pending, zone.root, key)
    result.details.update(landing=zone.root, files=len(pickup.pending), run_key=key)
    result.message = f"{len(pickup.pending)} new file(s) from {zone.root} ({summary}): " + (
        result.message or result.status
    )
    return result
