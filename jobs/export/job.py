"""`tracelake export`: the gold tables -> sharded training datasets with a manifest.

Reads gold tables with delta-rs at pinned versions (no Spark), writes shards into a staging
folder, and publishes them with `manifest.json` last:
  - local destination: the staging folder sits next to the build folder and is renamed onto it
    in one step, so the build folder appears complete or not at all;
  - S3 destination: shards are uploaded first, the manifest last. A build prefix without a
    manifest (a crash mid-upload) is invisible to readers (`list_builds`, the trainer) and is
    removed by the next export of that dataset.
Re-exporting the same build id from the same table versions writes the same bytes; when the
destination already holds that build with the same shards nothing is written, with other shards
the export refuses (ExportConflictError). See docs/export.md.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from tracelake.schemas.gold import SPLITS
from tracelake.schemas.manifest import (
    MANIFEST_NAME,
    ColumnSpec,
    DatasetName,
    Manifest,
    ManifestError,
    ShardFormat,
    read_manifest,
    verify_shards,
)

from ..context import JobContext
from ..errors import (
    ConfigError,
    DestinationNotWritableError,
    ExportConflictError,
    GateFailedError,
    InputNotFoundError,
)
from ..lake import catalog
from ..lake.store import Lake, iter_data_file, pyarrow_filesystem
from .shards import COUNTED_COLUMNS, WRITER_LAYOUT, ShardOptions, upload, write_splits

# dataset -> (the gold tables it reads, its key column: what curation's verdicts name).
SOURCES: dict[DatasetName, tuple[tuple[str, ...], str]] = {
    DatasetName.sft: (("gold.examples",), "example_id"),
    DatasetName.dpo: (("gold.preferences",), "pair_id"),
    # gold.constitutional_pairs carries its critique examples (critique_messages) in each row.
    DatasetName.constitutional: (("gold.constitutional_pairs",), "pair_id"),
}
# dataset -> the table whose verdicts filter its rows, pinned like a source when it exists:
# curation (docs/curation.md) drops duplicates and contaminated examples from sft.
CURATION: dict[DatasetName, str] = {DatasetName.sft: "gold.dedup_index"}
FORMATS = {f.value: f for f in ShardFormat}
STAGING_PREFIX = ".staging-"
# A manifest-less build folder of another build id is removed only once this old (it may be an
# export still uploading); one of the build id being exported is always removed.
STALE_AFTER_S = 3600.0


@dataclass(frozen=True)
class ExportOutcome:
    dataset: str
    build_id: str
    manifest: str  # URI (local path or s3://) of manifest.json
    status: str  # "written" | "unchanged" (the same build was already there)
    rows: int
    shards: int
    source_table_versions: dict[str, int]
    cleaned: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- the gate check ---------------------------------------------------------------------------

# ops.gate_results, written by the quality gates (jobs/quality, docs/gates.md).
GATE_RESULTS = catalog.OPS_GATE_RESULTS
# At most this many failing expectations are named in the refusal (the rest are counted).
NAMED_FAILURES = 8


def _gate_rows(lake: Lake) -> list[dict[str, Any]]:
    files = lake.files(GATE_RESULTS)
    if not files:
        return []
    fs, _ = pyarrow_filesystem(files[0].uri, lake.storage_options)
    parts = [
        pq.read_table(f.uri.removeprefix("s3://").removeprefix("file://"), filesystem=fs)
        for f in files
    ]
    rows: list[dict[str, Any]] = pa.concat_tables(parts, promote_options="default").to_pylist()
    return rows


def check_source_gates(lake: Lake, versions: Mapping[str, int], force: bool = False) -> list[str]:
    """The gate check: refuse to export a table version whose latest quality gate failed.

    The quality gates (`tracelake gate`, jobs/quality) append one row per validated table
    version to `ops.gate_results`. For each source table at the version the export pinned, the
    latest result of that version decides: a failed one raises GateFailedError naming the failing
    expectations, unless `force` (which the manifest records as `gates_forced`). A table that
    was gated before but not at this version is refused too (run the gates first); a table no
    gate ever validated is exported (gates not in use for it). Returns the ids of the results
    consulted (the manifest's `gate_result_ids`)."""
    rows = _gate_rows(lake)
    latest: dict[tuple[str, int], dict[str, Any]] = {}
    gated: dict[str, list[int]] = {}
    for row in rows:
        table, version = row.get("table"), row.get("table_version")
        if table is None or version is None:
            continue
        gated.setdefault(table, []).append(int(version))
        held = latest.get((table, int(version)))
        if held is None or row["finished_at"] >= held["finished_at"]:
            latest[(table, int(version))] = row
    consulted: list[str] = []
    problems: list[str] = []
    for table, version in versions.items():
        result = latest.get((table, version))
        if result is None:
            if table in gated:
                problems.append(
                    f"{table} version {version} was never gated (last gated version "
                    f"{max(gated[table])}); run `tracelake gate --table {table}`"
                )
            continue
        consulted.append(str(result["gate_result_id"]))
        if not result.get("passed"):
            failing = [e["name"] for e in result.get("expectations") or [] if not e.get("passed")]
            named = ", ".join(failing[:NAMED_FAILURES]) or "no expectation recorded"
            extra = len(failing) - NAMED_FAILURES
            more = f" and {extra} more" if extra > 0 else ""
            problems.append(
                f"{table} version {version} failed its quality gate ({result['gate_result_id']}): "
                f"{named}{more}"
            )
    if problems and not force:
        raise GateFailedError(
            f"{'; '.join(problems)}; fix the data and rebuild (see `tracelake gate`), or pass "
            "--force to export anyway (recorded in the manifest)"
        )
    return consulted


# -- reading the gold tables -----------------------------------------------------------------


def _code_version() -> str:
    version = importlib.metadata.version("tracelake")
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{version}+g{sha}" if sha else version


def _bytes_version() -> str:
    """What decides the shards' bytes besides the rows and options (part of the build id)."""
    import orjson  # JSON Lines rows and MDS json columns
    import zstandard

    return f"tracelake {importlib.metadata.version('tracelake')}, pyarrow {pa.__version__}, " + (
        f"zstandard {zstandard.__version__}, orjson {orjson.__version__}"
    )


def parse_dataset(name: str) -> DatasetName:
    try:
        return DatasetName(name)
    except ValueError:
        known = ", ".join(d.value for d in DatasetName)
        raise ConfigError(f"unknown dataset {name!r}; choose one of: {known}") from None


def parse_format(name: str) -> ShardFormat:
    if name not in FORMATS:
        raise ConfigError(f"unknown export format {name!r}; choose one of: {', '.join(FORMATS)}")
    return FORMATS[name]


def pin_versions(lake: Lake, dataset: DatasetName) -> dict[str, int]:
    """The current version of every table the dataset reads (the versions the export reads)."""
    versions = {}
    for table in SOURCES[dataset][0]:
        version = lake.version(catalog.get(table))
        if version is None:
            raise InputNotFoundError(
                f"{table} does not exist in {lake.root}: nothing to export for dataset "
                f"{dataset.value}; run `tracelake build` first"
            )
        versions[table] = version
    curation = CURATION.get(dataset)
    if curation is not None:  # optional: a lake curated by nobody exports what gold holds
        version = lake.version(catalog.get(curation))
        if version is not None:
            versions[curation] = version
    return versions


def _dropped(lake: Lake, dataset: DatasetName, versions: Mapping[str, int]) -> pa.Array | None:
    """The keys curation leaves out of the dataset (None when none are)."""
    curation = CURATION.get(dataset)
    if curation is None or curation not in versions:
        return None
    from ..curate.verdicts import dropped_example_ids

    dropped = dropped_example_ids(lake, versions[curation])
    return pa.array(sorted(dropped), pa.string()) if dropped else None


def source_files(lake: Lake, dataset: DatasetName, versions: Mapping[str, int]) -> list[Any]:
    """(table spec, data file) of every file the dataset reads at the pinned versions, in the
    export's row order: source tables in order, each table's files in the order they were added
    (the Delta log's modification time, then the path). Raises if they hold no rows."""
    tables, _ = SOURCES[dataset]
    found = []
    for table in tables:
        spec = catalog.get(table)
        files = lake.files(spec, version=versions[table])
        found += [(spec, f) for f in sorted(files, key=lambda f: (f.modification_time, f.uri))]
    if not any(f.num_records for _, f in found):
        _empty(dataset, versions)
    return found


def _empty(dataset: DatasetName, versions: Mapping[str, int]) -> NoReturn:
    where = ", ".join(f"{t}@{versions[t]}" for t in SOURCES[dataset][0])
    raise InputNotFoundError(
        f"dataset {dataset.value} is empty ({where} has no rows); nothing was exported. "
        "Run `tracelake build` once there are runs that yield it"
    )


def iter_rows(
    lake: Lake, dataset: DatasetName, versions: Mapping[str, int]
) -> Iterator[pa.RecordBatch]:
    """The dataset's rows at the pinned versions as a stream of record batches, in a fixed
    order (`source_files`, then each file's own row order), without curation's dropped rows.
    At most one row group of a data file is in memory at a time."""
    files = source_files(lake, dataset, versions)
    dropped = _dropped(lake, dataset, versions)
    key = SOURCES[dataset][1]
    for spec, file in files:
        columns = list(spec.schema.names)
        for batch in iter_data_file(file, spec, columns, lake.storage_options):
            if dropped is not None:
                batch = batch.filter(pc.invert(pc.is_in(batch.column(key), value_set=dropped)))
            if batch.num_rows:
                yield batch


def read_rows(lake: Lake, dataset: DatasetName, versions: dict[str, int]) -> pa.Table:
    """The dataset's rows at the pinned versions in the export's order, as one table (the
    export itself streams them: `iter_rows`)."""
    spec = catalog.get(SOURCES[dataset][0][0])
    return pa.Table.from_batches(list(iter_rows(lake, dataset, versions)), spec.schema)


def _split_order(splits: Sequence[str]) -> list[str]:
    return sorted(splits, key=lambda s: (SPLITS.index(s) if s in SPLITS else len(SPLITS), s))


class _Counter:
    """The manifest's rows and per-value counts, accumulated over the streamed batches."""

    def __init__(self) -> None:
        self.rows = 0
        self.counts: dict[str, dict[str, int]] = {}

    def over(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            self.rows += batch.num_rows
            for column in COUNTED_COLUMNS:
                if column in batch.schema.names:
                    held = self.counts.setdefault(column, {})
                    for v in pc.value_counts(batch.column(column)).to_pylist():
                        name = "null" if v["values"] is None else str(v["values"])
                        held[name] = held.get(name, 0) + int(v["counts"])
            yield batch

    def sorted_counts(self) -> dict[str, dict[str, int]]:
        return {c: dict(sorted(v.items())) for c, v in self.counts.items()}


def default_build_id(
    dataset: DatasetName, versions: dict[str, int], options: ShardOptions, seed: int | None
) -> str:
    """Deterministic: the same versions and options give the same build id (and bytes)."""
    spec = {
        "dataset": dataset.value,
        "versions": versions,
        "options": {k: str(v) for k, v in asdict(options).items()},
        "shuffle_seed": seed,
        "writer": _bytes_version(),
        "layout": WRITER_LAYOUT,
    }
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
    return f"b{digest[:12]}"


# -- destinations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Destination:
    uri: str  # the export root, as given (local path or s3://bucket/prefix)
    fs: pafs.FileSystem
    path: str  # the root inside fs

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    def uri_of(self, path: str) -> str:
        return path if self.is_local else f"s3://{path}"


def destination(uri: str, storage_options: dict[str, str]) -> Destination:
    if "://" in uri and not uri.startswith(("s3://", "file://")):
        raise ConfigError(f"unsupported export destination {uri!r}; use a path or s3://bucket/key")
    if uri.startswith("s3://"):
        fs, path = pyarrow_filesystem(uri.rstrip("/"), storage_options)
        return Destination(uri, fs, path)
    path = str(Path(uri.removeprefix("file://")).expanduser().resolve())
    return Destination(uri, pafs.LocalFileSystem(), path)


def _unwritable(where: str, exc: BaseException) -> DestinationNotWritableError:
    reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
    return DestinationNotWritableError(
        f"cannot write the export to {where} ({reason}); nothing was published. Pass a "
        "writable --to, or fix its permissions / bucket"
    )


def _newest_mtime(fs: pafs.FileSystem, path: str) -> float:
    infos = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    times = [i.mtime.timestamp() for i in infos if i.mtime is not None]
    return max(times) if times else 0.0


def list_builds(dest: Destination, dataset: str) -> list[str]:
    """Manifest URIs of the finished builds of `dataset` (folders without a manifest are not
    builds: an export still running or one that crashed)."""
    base = f"{dest.path}/{dataset}"
    infos = dest.fs.get_file_info(pafs.FileSelector(base, allow_not_found=True))
    found = []
    for info in sorted(infos, key=lambda i: i.path):
        name = info.base_name
        if info.type != pafs.FileType.Directory or name.startswith("."):
            continue
        manifest = f"{info.path}/{MANIFEST_NAME}"
        if dest.fs.get_file_info(manifest).type == pafs.FileType.File:
            found.append(dest.uri_of(manifest))
    return found


def clean_partial(dest: Destination, dataset: str, build_id: str) -> list[str]:
    """Remove what crashed exports left: staging folders and build folders without a manifest
    (of this build id always; of others once older than STALE_AFTER_S)."""
    base = f"{dest.path}/{dataset}"
    removed = []
    now = time.time()
    for info in dest.fs.get_file_info(pafs.FileSelector(base, allow_not_found=True)):
        if info.type != pafs.FileType.Directory:
            continue
        name = info.base_name
        if name.startswith(STAGING_PREFIX):
            mine = name.startswith(f"{STAGING_PREFIX}{build_id}-")
        elif dest.fs.get_file_info(f"{info.path}/{MANIFEST_NAME}").type == pafs.FileType.File:
            continue
        else:
            mine = name == build_id
        if mine or now - _newest_mtime(dest.fs, info.path) > STALE_AFTER_S:
            dest.fs.delete_dir(info.path)
            removed.append(dest.uri_of(info.path))
    return removed


def _same_shards(a: Manifest, b: Manifest) -> bool:
    def shards(m: Manifest) -> dict[str, Any]:
        return {s: [(x.path, x.sha256, x.bytes) for x in e.shards] for s, e in m.splits.items()}

    return a.format == b.format and shards(a) == shards(b)


def _existing(dest: Destination, folder: str) -> Manifest | None:
    location = f"{folder}/{MANIFEST_NAME}"
    if dest.fs.get_file_info(location).type != pafs.FileType.File:
        return None
    try:
        return read_manifest(dest.uri_of(location), dest.fs)
    except ManifestError as exc:
        raise ExportConflictError(
            f"{exc}; {dest.uri_of(folder)} holds a broken export of the same build id: delete "
            "it or pass another --build-id"
        ) from None


# -- the export ---------------------------------------------------------------------------------


def export_dataset(
    ctx: JobContext,
    dataset: str | DatasetName,
    *,
    fmt: str | ShardFormat = ShardFormat.parquet,
    to: str | None = None,
    build_id: str | None = None,
    shuffle_seed: int | None = None,
    force: bool = False,
    created_at: datetime | None = None,
) -> ExportOutcome:
    """Export one dataset; returns where its manifest is. Raises a TracelakeError (one line,
    what to do) and publishes nothing on any bad input."""
    name = dataset if isinstance(dataset, DatasetName) else parse_dataset(dataset)
    shard_format = fmt if isinstance(fmt, ShardFormat) else parse_format(fmt)
    cfg = ctx.settings.export
    options = ShardOptions(
        format=shard_format,
        shard_bytes=cfg.shard_bytes,
        row_groups_per_shard=cfg.row_groups_per_shard,
        zstd_level=cfg.zstd_level,
    )
    root = to or ctx.settings.export_root
    dest = destination(root, ctx.settings.storage_options_for(root))

    versions = pin_versions(ctx.lake, name)
    gate_ids = check_source_gates(ctx.lake, versions, force=force)
    source_files(ctx.lake, name, versions)  # refuses an empty dataset before writing anything
    schema = catalog.get(SOURCES[name][0][0]).schema
    build = build_id or default_build_id(name, versions, options, shuffle_seed)
    if not build or "/" in build or build.startswith("."):
        raise ConfigError(f"invalid build id {build!r}; use letters, digits, - and _")
    folder = f"{dest.path}/{name.value}/{build}"

    try:
        cleaned = clean_partial(dest, name.value, build)
        dest.fs.create_dir(f"{dest.path}/{name.value}", recursive=True)
    except OSError as exc:
        raise _unwritable(dest.uri_of(f"{dest.path}/{name.value}"), exc) from None
    if dest.is_local:
        staging = Path(f"{dest.path}/{name.value}/{STAGING_PREFIX}{build}-{uuid.uuid4().hex[:8]}")
        try:
            staging.mkdir(parents=True)
        except OSError as exc:
            raise _unwritable(str(staging.parent), exc) from None
    else:
        staging = Path(tempfile.mkdtemp(prefix=f"tracelake-export-{build}-"))
    try:
        counter = _Counter()
        rows = counter.over(iter_rows(ctx.lake, name, versions))
        written = write_splits(rows, staging, schema, options, shuffle_seed)
        if counter.rows == 0:  # curation left nothing out of what gold holds
            _empty(name, versions)
        splits = {split: written[split] for split in _split_order(list(written))}
        manifest = Manifest(
            dataset=name,
            build_id=build,
            created_at=created_at or datetime.now(UTC),
            format=shard_format,
            source_table_versions=versions,
            gate_result_ids=gate_ids,
            code_version=_code_version(),
            schema=[ColumnSpec(name=f.name, type=str(f.type), nullable=f.nullable) for f in schema],
            splits=splits,
            counts=counter.sorted_counts(),
            shuffle_seed=shuffle_seed,
            gates_forced=force,
        )
        status = _publish(dest, folder, staging, manifest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ExportOutcome(
        dataset=name.value,
        build_id=build,
        manifest=dest.uri_of(f"{folder}/{MANIFEST_NAME}"),
        status=status,
        rows=counter.rows,
        shards=sum(len(s.shards) for s in manifest.splits.values()),
        source_table_versions=versions,
        cleaned=tuple(cleaned),
    )


def _publish(dest: Destination, folder: str, staging: Path, manifest: Manifest) -> str:
    existing = _existing(dest, folder)
    if existing is not None:
        if _same_shards(existing, manifest):
            return "unchanged"
        raise ExportConflictError(
            f"{dest.uri_of(folder)} already holds another export of build id "
            f"{manifest.build_id} with different shards; pass another --build-id, or delete "
            "that folder if it is no longer used"
        )
    try:
        if dest.is_local:
            (staging / MANIFEST_NAME).write_text(manifest.to_json())
            staging.rename(folder)  # one step: the build folder appears complete
        else:
            upload(staging, dest.fs, folder, manifest)
    except OSError as exc:
        if dest.is_local and Path(folder, MANIFEST_NAME).exists():  # a concurrent twin won
            return _publish(dest, folder, staging, manifest)
        raise _unwritable(dest.uri_of(folder), exc) from None
    return "written"


def export(
    ctx: JobContext,
    datasets: Sequence[str] | None = None,
    **kwargs: Any,
) -> list[ExportOutcome]:
    """Export each of `datasets` (all three when None)."""
    names = [parse_dataset(d) for d in datasets] if datasets else list(DatasetName)
    return [export_dataset(ctx, name, **kwargs) for name in names]


# -- verify -----------------------------------------------------------------------------------


def verify(uri: str, storage_options: dict[str, str] | None = None) -> list[str]:
    """Re-hash every shard of a manifest (local or s3://); one message per mismatch.

    The checks are schemas.manifest.verify_shards, the trainer's own (one source of truth);
    this only supplies the filesystem configured by the settings."""
    fs = None
    if uri.startswith("s3://") and storage_options:
        fs, _ = pyarrow_filesystem(uri, storage_options)
    try:
        return verify_shards(uri, filesystem=fs)
    except ManifestError as exc:
        return [str(exc)]
