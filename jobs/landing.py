"""The landing zone: find trace files that arrived and have not been ingested yet.

Design: a ledger, not a move.
  Each pickup lists the landing location (a local folder or an s3:// prefix) and compares the
  listing with the ledger table `ops.landing_files`, one row per consumed file version. A version
  is (uri, ETag, version id) on S3 (LastModified has one-second resolution, so a same-size
  rewrite within a second would look unchanged) and (path, size, mtime_ns) for a local file.
  What is listed and not in the ledger is pending. After the ingest job has committed a pending
  set, the set is appended to the ledger in one Delta commit.

Listing that grows with the new objects, not the history (S3):
  each ledger commit carries a watermark, the largest key up to which every listed key was
  consumed (or ignored) and is older than WATERMARK_LAG_S. The next pickup lists with
  start-after = the watermark. This assumes producers name keys in time order (date prefixes,
  timestamps); a key written below the watermark later is found by a full reconcile
  (`pending(full=True)`, `tracelake landing --full`), which lists everything.

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

import calendar
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .context import JobContext
from .errors import ConfigError
from .lake import TableSpec, catalog
from .lake.store import translate_storage_error

# The ledger table: its spec is in the catalog, its record shape in schemas/records.py.
LANDING_FILES: TableSpec = catalog.OPS_LANDING_FILES
LANDING_FILES_SCHEMA = LANDING_FILES.schema
LEDGER_COLUMNS = ["landing", "uri", "size", "mtime_ns", "etag", "version_id", "watermark"]

# Folder names under the landing root that are never treated as input (tools that archive
# consumed files by hand conventionally use them).
RESERVED_DIRS = frozenset({"_done", "_claimed", "_failed", "_tracelake"})


# S3 incremental listing: keys modified less than this long ago never move the watermark, so
# a key that sorts below them but whose upload completes later (parallel uploads) is still
# listed by the next pickups.
WATERMARK_LAG_S = 900.0


@dataclass(frozen=True)
class LandingFile:
    """One version of one landed file.

    Identity: an S3 object is (uri, ETag, version id); a local file (uri, size, mtime_ns)."""

    uri: str
    size: int
    mtime_ns: int
    etag: str | None = None
    version_id: str | None = None

    @property
    def key(self) -> tuple[Any, ...]:
        if self.etag is not None:
            return (self.uri, "etag", self.etag, self.version_id or "")
        return self.legacy_key

    @property
    def legacy_key(self) -> tuple[Any, ...]:
        """(uri, size, mtime_ns): the identity of a local file, and of ledger rows written
        before the ledger recorded ETags."""
        return (self.uri, self.size, self.mtime_ns)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LandingFile:
        return cls(
            uri=str(data["uri"]),
            size=int(data["size"]),
            mtime_ns=int(data["mtime_ns"]),
            etag=data.get("etag"),
            version_id=data.get("version_id"),
        )


@dataclass(frozen=True)
class Pickup:
    """What one look at the landing zone found."""

    pending: list[LandingFile]
    already_consumed: int
    settling: int  # files too young to read yet
    deferred: int  # pending files left for the next pickup (over max_files)
    listed: int = 0  # objects the store returned for this pickup (the listing's cost)
    watermark: str | None = None  # S3: the key to list after next time, once this is marked


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
        self.last_listed = 0  # objects returned by the last listing, ignored ones included

    # -- listing ---------------------------------------------------------------------------

    @property
    def is_s3(self) -> bool:
        return self.root.startswith("s3://")

    def list(self, start_after: str | None = None) -> list[LandingFile]:
        """Every file under the landing root, hidden and reserved folders excluded, sorted.
        On S3, `start_after` (a key, without s3://bucket/) lists only the keys after it."""
        if self.is_s3:
            return self._list_s3(start_after)
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
        self.last_listed = len(out)
        return sorted(out, key=lambda f: f.uri)

    def _s3_store(self) -> Any:
        from obstore.store import S3Store

        bucket = self.root.removeprefix("s3://").split("/", 1)[0]
        options = self.ctx.settings.storage_options_for(self.root)
        config = {k.lower(): v for k, v in options.items()}
        return S3Store(bucket, config=config)  # type: ignore[arg-type]

    def _list_s3(self, start_after: str | None = None) -> list[LandingFile]:
        """List with ETags (pyarrow's FileInfo has none), through obstore: ListObjectsV2 with
        start-after, 1,000 keys a request."""
        import obstore
        from obstore.exceptions import BaseError

        bucket, _, prefix = self.root.removeprefix("s3://").partition("/")
        out = []
        listed = 0
        try:
            for chunk in obstore.list(
                self._s3_store(),
                prefix=prefix or None,
                offset=start_after,
                chunk_size=1000,
            ):
                for meta in chunk:
                    listed += 1
                    key = meta["path"]
                    rel = key[len(prefix) :].strip("/").split("/")
                    if _is_ignored(rel):
                        continue
                    etag = meta.get("e_tag")
                    out.append(
                        LandingFile(
                            f"s3://{bucket}/{key}",
                            int(meta["size"]),
                            _datetime_ns(meta["last_modified"]),
                            etag=etag.strip('"') if etag is not None else None,
                            version_id=meta.get("version"),
                        )
                    )
        except (OSError, BaseError) as exc:
            raise translate_storage_error(exc, self.root) or exc from None
        self.last_listed = listed
        return sorted(out, key=lambda f: f.uri)

    def _s3_key(self, uri: str) -> str:
        """The object key of an s3:// URI (what start-after takes)."""
        return uri.removeprefix("s3://").split("/", 1)[1]

    # -- the ledger ------------------------------------------------------------------------

    def _ledger(self) -> pa.Table:
        ledger = self.ctx.lake.read(LANDING_FILES, columns=LEDGER_COLUMNS)
        return ledger.filter(pc.equal(ledger["landing"], self.root))

    @staticmethod
    def _keys(rows: pa.Table) -> set[tuple[Any, ...]]:
        return {
            LandingFile(r["uri"], r["size"], r["mtime_ns"], r["etag"], r["version_id"]).key
            for r in rows.select(["uri", "size", "mtime_ns", "etag", "version_id"]).to_pylist()
        }

    def consumed(self) -> set[tuple[Any, ...]]:
        """The identities (`LandingFile.key`) of every file version the ledger holds."""
        return self._keys(self._ledger())

    def watermark(self) -> str | None:
        """S3: the largest key below which everything was consumed (None: list everything)."""
        if not self.is_s3:
            return None
        return self._watermark_of(self._ledger())

    @staticmethod
    def _watermark_of(ledger: pa.Table) -> str | None:
        marks = ledger["watermark"]
        return pc.max(marks).as_py() if marks.null_count < len(marks) else None

    def pending(
        self,
        *,
        settle_s: float = 0.0,
        max_files: int | None = None,
        now_ns: int | None = None,
        full: bool = False,
        watermark_lag_s: float = WATERMARK_LAG_S,
    ) -> Pickup:
        """Files not yet consumed, oldest first; at most `max_files` of them.

        On S3 only the keys after the ledger's watermark are listed, unless `full` (a
        reconcile: list everything, catching objects overwritten under an old key)."""
        now_ns = now_ns if now_ns is not None else time.time_ns()
        ledger = self._ledger()
        start_after = None if full or not self.is_s3 else self._watermark_of(ledger)
        if start_after is not None:
            ledger = ledger.filter(pc.greater(ledger["uri"], f"s3://{self._bucket}/{start_after}"))
        listed = self.list(start_after=start_after)
        seen = self._keys(ledger)
        fresh = [f for f in listed if f.key not in seen and f.legacy_key not in seen]
        settle_ns = int(settle_s * 1e9)
        ready = [f for f in fresh if now_ns - f.mtime_ns >= settle_ns]
        ready.sort(key=lambda f: (f.mtime_ns, f.uri))
        limit = len(ready) if max_files is None else max_files
        picked = ready[:limit]
        return Pickup(
            pending=picked,
            already_consumed=len(listed) - len(fresh),
            settling=len(fresh) - len(ready),
            deferred=max(0, len(ready) - limit),
            listed=self.last_listed,
            watermark=self._next_watermark(
                start_after, listed, seen, picked, now_ns - int(watermark_lag_s * 1e9)
            )
            if self.is_s3
            else None,
        )

    @property
    def _bucket(self) -> str:
        return self.root.removeprefix("s3://").split("/", 1)[0]

    def _next_watermark(
        self,
        start_after: str | None,
        listed: list[LandingFile],
        seen: set[tuple[Any, ...]],
        picked: list[LandingFile],
        older_than_ns: int,
    ) -> str | None:
        """The largest listed key up to which every listed file is consumed or picked now, and
        was last modified before `older_than_ns`; never below `start_after`."""
        done = seen | {f.key for f in picked}
        mark = start_after
        for f in listed:  # sorted by uri, so by key
            consumed = f.key in done or f.legacy_key in seen
            if not consumed or f.mtime_ns > older_than_ns:
                break
            mark = self._s3_key(f.uri)
        return mark

    def _evolve(self) -> None:
        """Add the columns a ledger created before them lacks (old rows read them as null)."""
        table = self.ctx.lake.table(LANDING_FILES)
        if table is None:
            return
        have = {f.name for f in table.schema().fields}
        missing = [f for f in LANDING_FILES_SCHEMA if f.name not in have]
        if not missing:
            return
        from deltalake.schema import Field, PrimitiveType

        try:
            table.alter.add_columns([Field(f.name, PrimitiveType("string")) for f in missing])
        except Exception:  # another pickup added them first
            table = self.ctx.lake.table(LANDING_FILES)
            have = {f.name for f in table.schema().fields} if table is not None else set()
            if any(f.name not in have for f in missing):
                raise

    def mark_consumed(
        self, files: list[LandingFile], run_key: str, watermark: str | None = None
    ) -> int | None:
        """Record files as consumed in one commit (with the pickup's S3 watermark, if any).
        Returns the ledger version written."""
        if not files:
            return None
        self._evolve()
        now = datetime.now(UTC)
        table = pa.Table.from_pylist(
            [
                {
                    "landing": self.root,
                    "uri": f.uri,
                    "size": f.size,
                    "mtime_ns": f.mtime_ns,
                    "etag": f.etag,
                    "version_id": f.version_id,
                    "watermark": watermark,
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


def _datetime_ns(value: datetime) -> int:
    return calendar.timegm(value.utctimetuple()) * 1_000_000_000 + value.microsecond * 1000


# -- the landing job: pickup + ingest + ledger, in one call --------------------------------


def ingest_pickup(
    ctx: JobContext,
    files: list[LandingFile],
    landing: str,
    run_key: str,
    watermark: str | None = None,
) -> Any:
    """Ingest a snapshot's files, then record them in the ledger (only after the ingest
    committed: a crash before that leaves them pending, and the re-ingest stores nothing twice).
    Returns the ingest job's result with `details["ledger_version"]` set."""
    from .ingest import job as ingest_job

    result = ingest_job.run(ctx, paths=[f.uri for f in files])
    result.details["ledger_version"] = LandingZone(ctx, landing).mark_consumed(
        files, run_key, watermark
    )
    return result


def run(
    ctx: JobContext,
    *,
    settle_s: float = 0.0,
    max_files: int | None = None,
    run_key: str | None = None,
    full: bool = False,
) -> Any:
    """Ingest what landed since the last pickup (what the tracelake_ingest DAG does). `full`
    lists the whole landing prefix (a reconcile) instead of the keys after the watermark."""
    from .context import JobResult

    zone = LandingZone(ctx)
    pickup = zone.pending(settle_s=settle_s, max_files=max_files, full=full)
    summary = (
        f"{pickup.already_consumed} already ingested, {pickup.settling} still settling, "
        f"{pickup.deferred} deferred"
    )
    if not pickup.pending:
        return JobResult(
            job="landing", status="noop", message=f"no new files under {zone.root} ({summary})"
        )
    key = run_key or f"cli/{datetime.now(UTC).strftime('%Y%m%dT%H%M%S.%fZ')}"
    result = ingest_pickup(ctx, pickup.pending, zone.root, key, pickup.watermark)
    result.details.update(
        landing=zone.root, files=len(pickup.pending), run_key=key, listed=pickup.listed
    )
    result.message = f"{len(pickup.pending)} new file(s) from {zone.root} ({summary}): " + (
        result.message or result.status
    )
    return result
