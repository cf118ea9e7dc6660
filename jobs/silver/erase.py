"""`tracelake erase --run RUN_ID | --value TEXT`: remove a run, or a value wherever it occurs,
from bronze and from everything derived from it; audited.

bronze.events is append-only (`delta.appendOnly=true`, which delta-rs enforces: a commit that
removes data files fails). Erasure is the one sanctioned exception. In order:

  Catch up     run the build, so every derived table has consumed all of bronze
  Find         the bronze rows to change: every event of the run, or every event whose free
               text (goal, action, reasoning, error, source_uri, input, output, state_change,
               attribute values) contains the value
  Unlock       SET TBLPROPERTIES delta.appendOnly=false          (commit 1)
  Rewrite      MERGE on event_id: delete the run's rows, or update the rows with the value
               replaced by `<ERASED:value:tag>`; only the files holding them are rewritten
               (commit 2)
  Relock       SET TBLPROPERTIES delta.appendOnly=true           (commit 3)
  Propagate    silver.events and ops.scrub_log: the files holding the affected runs are
               rewritten with those runs re-scrubbed from the new bronze rows; silver.runs: the
               affected runs re-projected. Each commit carries its job's bookmark moved past
               the erasure, so no job reads the rewrite as new data. If another writer committed
               to a table in between, a bookmark cannot be moved safely and the derived tables are
               rebuilt from bronze instead.
  Recompute    every other derived job reading those tables (directly or not) runs in full,
               so no aggregate keeps the run's share
  Record       ops.erasures: who, when, hashed selector, rows and files rewritten, versions,
               and the export manifests that list an affected run

Every commit carries `tracelake.erasure_id` in its commit metadata. The replaced files stay on
storage, unreferenced, until VACUUM removes them after the retention period (`tracelake
maintain`): only then is the value physically gone. Neither the value nor the run id is ever
written anywhere: ops.erasures and the commit metadata hold their SHA-256.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties
from pyspark.sql.datasource import In

from ..context import JobContext, JobResult, recorded_job_run
from ..errors import TracelakeError
from ..lake import catalog, spark_io
from ..lake.delta_source import plan_scan, read_arrow
from ..lake.store import pyarrow_filesystem
from .scrub.placeholders import placeholder, run_key
from .scrub.scrubber import JSON_COLUMNS, MAP_COLUMNS, TEXT_COLUMNS
from .scrubbing import scrub_log_rows, scrubbed_events

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

JOB_NAME = "erase"
ERASURE_KEY = "tracelake.erasure_id"
FILE_COLUMN = "_tracelake_file"
MANIFEST_NAME = "manifest.json"
# A shorter value would match all over the lake: erase the run instead.
MIN_VALUE_CHARS = 4
BRONZE = catalog.BRONZE_EVENTS


class ErasureError(TracelakeError):
    """An erasure request that cannot be carried out as given."""


@dataclass
class Selector:
    kind: str  # "run" or "value"
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


@dataclass
class Erasure:
    erasure_id: str
    selector: Selector
    runs: list[str] = field(default_factory=list)
    rows: int = 0
    files: int = 0
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    manifests: list[str] = field(default_factory=list)

    def commit(self, **extra: Any) -> CommitProperties:
        return CommitProperties(
            custom_metadata={
                ERASURE_KEY: self.erasure_id,
                "tracelake.operation": "erase",
                "tracelake.selector": self.selector.kind,
                "tracelake.selector_sha256": self.selector.sha256,
                **{k: json.dumps(v) for k, v in extra.items()},
            }
        )


def selector_from(run_id: str | None, value: str | None) -> Selector:
    if (run_id is None) == (value is None):
        raise ErasureError("give exactly one of --run RUN_ID or --value TEXT")
    if run_id is not None:
        if not run_id.strip():
            raise ErasureError("--run is empty; give the run id to erase")
        return Selector("run", run_id)
    assert value is not None
    if len(value.strip()) < MIN_VALUE_CHARS:
        raise ErasureError(
            f"--value must be at least {MIN_VALUE_CHARS} characters (a shorter one would match "
            "text all over the lake); erase the run with --run instead"
        )
    return Selector("value", value)


# -- find ----------------------------------------------------------------------------------


def _bronze_rows(ctx: JobContext, version: int, selector: Selector) -> pa.Table:
    """The bronze rows the erasure changes (all columns)."""
    lake = ctx.lake
    uri = lake.uri(BRONZE)
    if selector.kind == "run":
        plan = plan_scan(
            uri, lake.storage_options, version=version, filters=[In(("run_id",), (selector.text,))]
        )
        expression = pc.field("run_id") == selector.text
        return read_arrow(
            uri, lake.storage_options, plan.files, BRONZE.schema, expression=expression
        )
    plan = plan_scan(uri, lake.storage_options, version=version)
    table = read_arrow(uri, lake.storage_options, plan.files, BRONZE.schema)
    return table.filter(_contains(table, selector.text))


def _contains(table: pa.Table, value: str) -> pa.Array:
    mask = pa.array([False] * table.num_rows)
    for column in (*TEXT_COLUMNS, *JSON_COLUMNS):
        hit = pc.fill_null(pc.match_substring(table[column], value), False)
        mask = pc.or_(mask, hit)
    for column in MAP_COLUMNS:
        maps = table[column].combine_chunks()
        if len(maps) == 0:
            continue
        hits = pc.fill_null(pc.match_substring(maps.items, value), False)
        offsets = np.frombuffer(maps.buffers()[1], dtype=np.int32)
        offsets = offsets[maps.offset : maps.offset + len(maps) + 1].astype(np.int64)
        # Rows whose items include a hit: a cumulative count that grows inside the row.
        counts = np.concatenate([[0], np.cumsum(hits.to_numpy(zero_copy_only=False))])
        per_row = counts[offsets[1:]] > counts[offsets[:-1]]
        mask = pc.or_(mask, pa.array(per_row))
    return mask


def _redacted(rows: pa.Table, selector: Selector) -> pa.Table:
    """`rows` with the value replaced by a placeholder keyed like the scrub's (per run)."""
    out = rows.to_pylist()
    for row in out:
        mark = placeholder("ERASED", "value", selector.text, run_key(row["run_id"]))
        for column in (*TEXT_COLUMNS, *JSON_COLUMNS):
            text = row[column]
            if text and selector.text in text:
                row[column] = _replace(text, selector.text, mark, column in JSON_COLUMNS)
        for column in MAP_COLUMNS:
            row[column] = [
                (k, v.replace(selector.text, mark) if v else v) for k, v in (row[column] or [])
            ]
    return pa.Table.from_pylist(out, schema=rows.schema)


def _replace(text: str, value: str, mark: str, is_json: bool) -> str:
    new = text.replace(value, mark)
    if not is_json:
        return new
    # The value as it appears in JSON text (quotes, backslashes escaped) too.
    escaped = orjson.dumps(value).decode()[1:-1]
    return new.replace(escaped, mark) if escaped != value else new


# -- rewrite bronze -----------------------------------------------------------------------------


def _rewrite_bronze(ctx: JobContext, erasure: Erasure, rows: pa.Table) -> tuple[int, int]:
    """Unlock, rewrite, relock. Returns (version after relocking, version before unlocking)."""
    table = ctx.lake.table(BRONZE)
    assert table is not None
    before = table.version()
    table.alter.set_table_properties(
        {"delta.appendOnly": "false"}, commit_properties=erasure.commit()
    )
    try:
        merge = table.merge(
            rows if erasure.selector.kind == "value" else rows.select(["event_id", "event_date"]),
            "t.event_id = s.event_id AND t.event_date = s.event_date",
            source_alias="s",
            target_alias="t",
            commit_properties=erasure.commit(),
        )
        if erasure.selector.kind == "run":
            metrics = merge.when_matched_delete().execute()
            erasure.rows = int(metrics["num_target_rows_deleted"])
        else:
            metrics = merge.when_matched_update_all().execute()
            erasure.rows = int(metrics["num_target_rows_updated"])
        erasure.files = int(metrics["num_target_files_removed"])
    finally:
        table.alter.set_table_properties(
            {"delta.appendOnly": "true"}, commit_properties=erasure.commit()
        )
    erasure.tables[BRONZE.qualified_name] = {
        "version": table.version(),
        "rows_rewritten": erasure.rows,
        "files_rewritten": erasure.files,
    }
    return table.version(), before


# -- propagate ----------------------------------------------------------------------------------


def _runs_files(
    ctx: JobContext, spec: catalog.TableSpec, runs: Sequence[str]
) -> tuple[list[str], pa.Table]:
    """The data files of `spec` holding any of `runs`, and their rows of OTHER runs."""
    lake = ctx.lake
    uri = lake.uri(spec)
    if lake.version(spec) is None:
        return [], spec.schema.empty_table()
    plan = plan_scan(uri, lake.storage_options, filters=[In(("run_id",), tuple(runs))])
    rows = read_arrow(uri, lake.storage_options, plan.files, spec.schema, FILE_COLUMN)
    hit = pc.is_in(rows["run_id"], pa.array(list(runs), pa.string()))
    files = sorted(set(rows.filter(hit)[FILE_COLUMN].to_pylist()))
    kept = rows.filter(
        pc.and_(pc.invert(hit), pc.is_in(rows[FILE_COLUMN], pa.array(files, pa.string())))
    )
    return files, kept.drop_columns([FILE_COLUMN])


def _replace_runs(
    ctx: JobContext,
    spark: SparkSession,
    spec: catalog.TableSpec,
    runs: Sequence[str],
    new_rows: pa.Table,
    bookmark: tuple[str, int],
    erasure: Erasure,
) -> int | None:
    # Written even when there is nothing to replace: the commit still moves the bookmark.
    files, kept = _runs_files(ctx, spec, runs)
    data = pa.concat_tables([kept, new_rows.select(spec.schema.names).cast(spec.schema)])
    outcome = spark_io.write(
        spark_io.from_arrow(spark, data).coalesce(1),
        spec,
        lake=ctx.lake,
        app_txn=bookmark,
        replace_files=files,
        metadata={ERASURE_KEY: erasure.erasure_id, "job": JOB_NAME},
        force=True,
    )
    erasure.tables[spec.qualified_name] = {
        "version": outcome.version,
        "files_rewritten": outcome.files_removed,
        "rows_written": outcome.rows_added,
    }
    return outcome.version


def _bookmark_is(ctx: JobContext, spec: catalog.TableSpec, app_id: str, version: int) -> bool:
    return ctx.lake.txn_version(spec, app_id) == version


def _propagate(
    ctx: JobContext, spark: SparkSession, erasure: Erasure, bronze_before: int, bronze_after: int
) -> bool:
    """Rewrite the affected runs in every derived table; False when a rebuild is needed."""
    from . import runs as project_runs
    from . import scrub_events, scrub_log

    lake = ctx.lake
    interleaved = lake.version(BRONZE) != bronze_after or bronze_after != bronze_before + 3
    jobs = (
        (catalog.SILVER_EVENTS, scrub_events.JOB_NAME),
        (catalog.OPS_SCRUB_LOG, scrub_log.JOB_NAME),
    )
    if interleaved or not all(_bookmark_is(ctx, s, j, bronze_before) for s, j in jobs):
        return False
    runs = erasure.runs
    plan = plan_scan(lake.uri(BRONZE), lake.storage_options, filters=[In(("run_id",), tuple(runs))])
    expression = pc.field("run_id").isin(pa.array(runs, pa.string()))
    bronze_rows = read_arrow(
        lake.uri(BRONZE), lake.storage_options, plan.files, BRONZE.schema, expression=expression
    )
    secret = ctx.settings.privacy.secret()
    events_before = lake.version(catalog.SILVER_EVENTS)
    if not _bookmark_is(ctx, catalog.SILVER_RUNS, project_runs.JOB_NAME, events_before):
        return False
    events_after = _replace_runs(
        ctx,
        spark,
        catalog.SILVER_EVENTS,
        runs,
        scrubbed_events(bronze_rows, secret),
        (scrub_events.JOB_NAME, bronze_after),
        erasure,
    )
    _replace_runs(
        ctx,
        spark,
        catalog.OPS_SCRUB_LOG,
        runs,
        scrub_log_rows(bronze_rows, secret),
        (scrub_log.JOB_NAME, bronze_after),
        erasure,
    )
    assert events_after is not None
    events = spark_io.read(
        spark,
        catalog.SILVER_EVENTS,
        lake=lake,
        columns=project_runs.EVENT_COLUMNS,
        where=[("run_id", "in", sorted(runs))],
    )
    new_runs = project_runs.project(events).toArrow()
    _replace_runs(
        ctx,
        spark,
        catalog.SILVER_RUNS,
        runs,
        new_runs,
        (project_runs.JOB_NAME, events_after),
        erasure,
    )
    return True


# Tables `_propagate` rewrites, and the jobs whose bookmarks it moves past the rewrite.
PROPAGATED_TABLES = (catalog.SILVER_EVENTS, catalog.OPS_SCRUB_LOG, catalog.SILVER_RUNS)


def _recompute_downstream(ctx: JobContext, erasure: Erasure) -> None:
    """Recompute in full every other job that reads a rewritten table, directly or through
    another job. Their tables aggregate over runs (components, patterns, evolution): deleting
    the run's rows would leave its share in every count and note, and an incremental run would
    only see the rewritten files' other runs. Erasure is rare; a full recompute is exact."""
    from ..registry import discover

    dirty = {spec.qualified_name for spec in PROPAGATED_TABLES}
    for spec in discover():
        if set(spec.writes) <= dirty or not dirty & set(spec.reads):
            continue
        result = spec.run(ctx, {"full": True})
        erasure.tables[f"recomputed:{spec.name}"] = {"status": result.status}
        dirty |= set(spec.writes)


# -- exports ------------------------------------------------------------------------------------


def manifests_listing(ctx: JobContext, runs: Sequence[str]) -> list[str]:
    """Export manifests (`manifest.json` anywhere under the export root) that list any of
    `runs` in their `run_ids`."""
    import pyarrow.fs as pafs

    root = ctx.settings.export_root
    options = ctx.settings.storage_options_for(root)
    fs, base = pyarrow_filesystem(root if "://" in root else str(_abs(root)), options)
    try:
        infos = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
    except (OSError, FileNotFoundError):
        return []
    wanted, found = set(runs), []
    for info in infos:
        if info.type != pafs.FileType.File or info.base_name != MANIFEST_NAME:
            continue
        with fs.open_input_stream(info.path) as stream:
            try:
                doc = orjson.loads(stream.read())
            except orjson.JSONDecodeError:
                continue
        listed = doc.get("run_ids", []) if isinstance(doc, dict) else []
        if wanted & set(listed):
            found.append(info.path if "://" not in root else f"s3://{info.path}")
    return sorted(found)


def _abs(path: str):
    from pathlib import Path

    return Path(path).expanduser().resolve()


# -- entry point --------------------------------------------------------------------------------


def erase(
    ctx: JobContext,
    *,
    run_id: str | None = None,
    value: str | None = None,
    reason: str | None = None,
    spark: SparkSession | None = None,
) -> JobResult:
    """Erase a run or a value from the lake (see the module docstring)."""
    from .. import build

    selector = selector_from(run_id, value)
    erasure = Erasure(uuid.uuid4().hex, selector)
    params = {
        "selector": selector.kind,
        "selector_sha256": selector.sha256,
        "erasure_id": erasure.erasure_id,
    }
    bronze_version = ctx.lake.version(BRONZE)
    if bronze_version is None:
        raise ErasureError(f"nothing to erase: {BRONZE.qualified_name} does not exist yet")
    if spark is None:
        from ..spark import get_session

        spark = get_session(ctx.settings)
    build.run(ctx)  # every derived table has consumed all of bronze
    with recorded_job_run(ctx, JOB_NAME, params) as result:
        rows = _bronze_rows(ctx, ctx.lake.version(BRONZE), selector)
        erasure.runs = sorted(set(rows["run_id"].to_pylist()))
        if rows.num_rows:
            if selector.kind == "value":
                rows = _redacted(rows, selector)
            after, before = _rewrite_bronze(ctx, erasure, rows)
            _rebuild_event_keys(ctx, erasure)
            if _propagate(ctx, spark, erasure, before, after):
                _recompute_downstream(ctx, erasure)
            else:
                build.rebuild(ctx)
                erasure.tables["rebuilt"] = {"reason": "another writer committed meanwhile"}
        erasure.manifests = manifests_listing(ctx, erasure.runs)
        _record(ctx, erasure, reason)
        result.rows_in = erasure.rows
        result.details.update(
            erasure_id=erasure.erasure_id,
            runs_affected=len(erasure.runs),
            rows_affected=erasure.rows,
            files_rewritten=erasure.files,
            export_manifests=erasure.manifests,
        )
        result.versions_written = {
            k: v["version"] for k, v in erasure.tables.items() if "version" in v
        }
        result.message = (
            f"erasure {erasure.erasure_id}: {erasure.rows} bronze row(s) in {erasure.files} "
            f"file(s) of {len(erasure.runs)} run(s) rewritten and propagated"
            + (f"; exports to revoke: {', '.join(erasure.manifests)}" if erasure.manifests else "")
            + "; the old files are physically removed by VACUUM after retention"
            if erasure.rows
            else f"erasure {erasure.erasure_id}: nothing matched; recorded"
        )
    return result


def _rebuild_event_keys(ctx: JobContext, erasure: Erasure) -> None:
    """bronze.event_keys, the deduplication index, still holds the erased rows' ids: rebuild it
    from the rewritten bronze. (Writers already ignore an index older than a commit that
    removed rows; this makes it usable again and drops the ids now.)"""
    keys = catalog.BRONZE_EVENT_KEYS
    if ctx.lake.table(keys) is None:
        return
    from ..ingest import event_keys

    ingest = ctx.settings.ingest
    event_keys.rebuild(ctx.lake, ingest.key_index_row_group_rows, ingest.key_index_file_rows)
    erasure.tables[keys.qualified_name] = {"version": ctx.lake.version(keys), "rebuilt": True}


def _record(ctx: JobContext, erasure: Erasure, reason: str | None) -> None:
    row = {
        "erasure_id": erasure.erasure_id,
        "erased_at": datetime.now(UTC),
        "erased_by": ctx.settings.privacy.operator or getpass.getuser(),
        "selector": erasure.selector.kind,
        "selector_sha256": erasure.selector.sha256,
        "reason": reason,
        "runs_affected": erasure.runs if erasure.selector.kind == "value" else [],
        "rows_affected": erasure.rows,
        "files_rewritten": erasure.files,
        "tables": json.dumps(erasure.tables, sort_keys=True),
        "export_manifests": erasure.manifests,
    }
    ctx.lake.append(
        catalog.OPS_ERASURES,
        pa.Table.from_pylist([row], schema=catalog.OPS_ERASURES.schema),
        metadata={ERASURE_KEY: erasure.erasure_id},
    )
