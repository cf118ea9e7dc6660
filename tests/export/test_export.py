"""`tracelake export` on real gold Delta tables (written with the lake API, read with delta-rs):
layout, shard sizes, manifest, Hugging Face loading, the trainer's reader, byte-identical
rebuilds, and every bad input as one line with nothing half-written visible."""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from cli_helpers import assert_one_line_error, run_cli

from tracelake.jobs.context import JobContext
from tracelake.jobs.errors import (
    ConfigError,
    DestinationNotWritableError,
    ExportConflictError,
    GateFailedError,
    InputNotFoundError,
)
from tracelake.jobs.export.job import (
    GATE_RESULTS,
    STAGING_PREFIX,
    destination,
    export,
    export_dataset,
    list_builds,
    verify,
)
from tracelake.jobs.lake import catalog
from tracelake.schemas.manifest import SHARD_NAME, ShardFormat, open_verified, read_manifest
from tracelake.trainer.data import check_columns, read_split

from .conftest import append, example_rows, pair_rows


def _visible(root: Path) -> list[str]:
    """Every file under root, relative, staging folders included (nothing may linger)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_exports_all_three_datasets_in_the_manifest_layout(gold_ctx: JobContext) -> None:
    outcomes = export(gold_ctx)
    assert [o.dataset for o in outcomes] == ["sft", "dpo", "constitutional"]
    lake = gold_ctx.lake
    for outcome in outcomes:
        assert outcome.status == "written"
        manifest = open_verified(outcome.manifest)  # the trainer's reader: re-hashes every shard
        assert manifest.dataset.value == outcome.dataset
        assert manifest.build_id == outcome.build_id
        assert Path(outcome.manifest).parent.name == outcome.build_id
        for table, version in manifest.source_table_versions.items():
            assert version == lake.version(catalog.get(table))
        assert manifest.code_version
        assert set(manifest.splits) == {"train", "validation", "test"}
        for split, entry in manifest.splits.items():
            for shard in entry.shards:
                m = SHARD_NAME.match(shard.path.split("/")[-1])
                assert m and m["split"] == split and int(m["count"]) == len(entry.shards)
                assert shard.path.startswith(f"{split}/")
        check_columns(manifest, outcome.dataset, outcome.manifest)
        assert sum(len(read_split(outcome.manifest, manifest, s)) for s in manifest.splits) == (
            manifest.total_rows()
        )
        assert verify(outcome.manifest) == []
    sft = read_manifest(outcomes[0].manifest)
    assert sft.total_rows() == 2000
    phases = {"component_evolution": 667, "orchestration": 667, "transfer": 666}
    assert sft.counts["phase"] == phases
    assert set(sft.counts) >= {"phase", "level", "pattern"}
    assert "phase" in sft.column_names()
    assert read_manifest(outcomes[2].manifest).counts["rule"] == {"verify_before_final": 60}
    root = Path(gold_ctx.settings.export_root)
    assert not [p for p in _visible(root) if STAGING_PREFIX in p]


def test_hugging_face_datasets_loads_every_split(gold_ctx: JobContext, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    for outcome in export(gold_ctx):
        manifest = read_manifest(outcome.manifest)
        folder = Path(outcome.manifest).parent
        loaded = datasets.load_dataset(
            "parquet",
            data_files={s: str(folder / s / "*.parquet") for s in manifest.splits},
            cache_dir=str(tmp_path / "hf"),
        )
        assert {s: loaded[s].num_rows for s in loaded} == {
            s: e.rows for s, e in manifest.splits.items()
        }


def test_shards_are_sized_by_bytes_with_streaming_row_groups(gold_ctx: JobContext) -> None:
    # Tiny shards for a test: each row group carries ~4.5 KiB of footer metadata (32 columns).
    gold_ctx.settings.export.shard_bytes = 96 * 1024
    gold_ctx.settings.export.row_groups_per_shard = 8
    outcome = export_dataset(gold_ctx, "sft")
    manifest = read_manifest(outcome.manifest)
    train = manifest.splits["train"].shards
    assert len(train) >= 3
    target = gold_ctx.settings.export.shard_bytes
    for shard in train[:-1]:
        assert abs(shard.bytes - target) <= target * 0.10, (shard.path, shard.bytes)
    meta = pq.ParquetFile(Path(outcome.manifest).parent / train[0].path).metadata
    assert meta.num_row_groups >= 6


def test_rebuild_of_the_same_versions_is_byte_identical(gold_ctx: JobContext, tmp_path: Path):
    first = export_dataset(gold_ctx, "sft", build_id="b1", to=str(tmp_path / "one"))
    second = export_dataset(gold_ctx, "sft", build_id="b1", to=str(tmp_path / "two"))
    a, b = read_manifest(first.manifest), read_manifest(second.manifest)
    assert a.splits == b.splits
    for entry in a.splits.values():
        for shard in entry.shards:
            one = (Path(first.manifest).parent / shard.path).read_bytes()
            assert one == (Path(second.manifest).parent / shard.path).read_bytes()
    # The same build again in the same place: nothing rewritten.
    before = Path(first.manifest).read_bytes()
    again = export_dataset(gold_ctx, "sft", build_id="b1", to=str(tmp_path / "one"))
    assert again.status == "unchanged"
    assert Path(first.manifest).read_bytes() == before
    # The default build id is a function of versions and options: the same twice.
    assert export_dataset(gold_ctx, "sft").build_id == export_dataset(gold_ctx, "sft").build_id


def test_shuffle_is_seeded_and_recorded(gold_ctx: JobContext, tmp_path: Path) -> None:
    plain = export_dataset(gold_ctx, "dpo", to=str(tmp_path / "p"))
    s1 = export_dataset(gold_ctx, "dpo", to=str(tmp_path / "a"), shuffle_seed=11)
    s2 = export_dataset(gold_ctx, "dpo", to=str(tmp_path / "b"), shuffle_seed=11)
    m1 = read_manifest(s1.manifest)
    assert m1.shuffle_seed == 11 and m1.splits == read_manifest(s2.manifest).splits
    ids = [r["pair_id"] for r in read_split(plain.manifest, read_manifest(plain.manifest), "train")]
    shuffled = [r["pair_id"] for r in read_split(s1.manifest, m1, "train")]
    assert ids == sorted(ids) and shuffled != ids and sorted(shuffled) == ids


def test_jsonl_zst_alternative(gold_ctx: JobContext) -> None:
    outcome = export_dataset(gold_ctx, "constitutional", fmt="jsonl.zst")
    manifest = open_verified(outcome.manifest)
    assert manifest.format is ShardFormat.jsonl_zst
    folder = Path(outcome.manifest).parent
    rows = 0
    for entry in manifest.splits.values():
        for shard in entry.shards:
            assert shard.path.endswith(".jsonl.zst")
            data = (
                zstandard.ZstdDecompressor()
                .stream_reader(io.BytesIO((folder / shard.path).read_bytes()))
                .read()
            )
            lines = data.decode().splitlines()
            assert len(lines) == shard.rows
            assert json.loads(lines[0])["critique_messages"]
            rows += len(lines)
    assert rows == 60


def test_an_altered_shard_is_reported_by_verify(gold_ctx: JobContext) -> None:
    outcome = export_dataset(gold_ctx, "sft")
    manifest = read_manifest(outcome.manifest)
    shard = Path(outcome.manifest).parent / manifest.splits["validation"].shards[0].path
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    problems = verify(outcome.manifest)
    assert len(problems) == 1 and shard.name in problems[0]
    proc = run_cli("export", "verify", outcome.manifest, cwd=shard.parent)
    assert_one_line_error(proc, shard.name, "differs from the manifest", "re-export")


def test_cli_exports_and_verifies(gold_ctx: JobContext, tmp_path: Path) -> None:
    env = {"TRACELAKE_LAKE_ROOT": gold_ctx.lake.root, "TRACELAKE_EXPORT__SHARD_BYTES": "262144"}
    to = tmp_path / "cli"
    proc = run_cli("export", "--dataset", "dpo", "--to", str(to), "--json", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    (outcome,) = json.loads(proc.stdout)
    assert outcome["dataset"] == "dpo" and outcome["rows"] == 60
    proc = run_cli("export", "verify", outcome["manifest"], cwd=tmp_path, env=env)
    assert proc.returncode == 0 and "every shard matches" in proc.stdout
    proc = run_cli("export", "--dataset", "rlhf", "--to", str(to), cwd=tmp_path, env=env)
    assert_one_line_error(proc, "unknown dataset 'rlhf'", "sft, dpo, constitutional")


def test_unknown_dataset_and_format(gold_ctx: JobContext) -> None:
    with pytest.raises(ConfigError, match="unknown dataset 'rlhf'; choose one of"):
        export(gold_ctx, ["rlhf"])
    with pytest.raises(ConfigError, match="unknown export format 'tfrecord'; choose one of: "):
        export_dataset(gold_ctx, "sft", fmt="tfrecord")


def test_empty_or_missing_dataset_writes_nothing(ctx: JobContext) -> None:
    root = Path(ctx.settings.export_root)
    with pytest.raises(InputNotFoundError, match=r"gold.examples does not exist.*tracelake build"):
        export_dataset(ctx, "sft")
    ctx.lake.ensure(catalog.get("gold.preferences"))
    with pytest.raises(InputNotFoundError, match=r"dataset dpo is empty \(gold.preferences@0"):
        export_dataset(ctx, "dpo")
    assert not root.exists() or _visible(root) == []


def test_same_build_id_with_other_content_is_refused(gold_ctx: JobContext) -> None:
    first = export_dataset(gold_ctx, "sft", build_id="nightly")
    folder = Path(first.manifest).parent
    before = {p: (folder / p).read_bytes() for p in _visible(folder)}
    append(gold_ctx, "gold.examples", example_rows(5, seed=9)[:5])  # new rows: other content
    with pytest.raises(ExportConflictError, match="already holds another export of build id"):
        export_dataset(gold_ctx, "sft", build_id="nightly")
    assert {p: (folder / p).read_bytes() for p in _visible(folder)} == before
    assert not [p for p in _visible(folder.parent) if STAGING_PREFIX in p]


def test_unwritable_destination(gold_ctx: JobContext, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(DestinationNotWritableError, match=r"cannot write the export to .*--to"):
        export_dataset(gold_ctx, "sft", to=str(blocker / "exports"))
    assert blocker.read_text() == "not a folder"


def test_crash_leftovers_are_invisible_and_cleaned(gold_ctx: JobContext) -> None:
    root = gold_ctx.settings.export_root
    dest = destination(root, {})
    done = export_dataset(gold_ctx, "sft", build_id="b2")
    # A crashed export of build b3: shards without a manifest, and a staging folder.
    partial = Path(root) / "sft" / "b3" / "train"
    partial.mkdir(parents=True)
    (partial / "train-00000-of-00002.parquet").write_bytes(b"half")
    staging = Path(root) / "sft" / f"{STAGING_PREFIX}b3-deadbeef"
    staging.mkdir()
    assert list_builds(dest, "sft") == [done.manifest]
    outcome = export_dataset(gold_ctx, "sft", build_id="b3")
    assert outcome.status == "written" and len(outcome.cleaned) == 2
    assert not staging.exists()
    assert verify(outcome.manifest) == []
    assert list_builds(dest, "sft") == [done.manifest, outcome.manifest]


def _gate_row(gate_id: str, table: str, version: int, passed: bool, day: int) -> dict:
    failing = [] if passed else [{"name": f"{table}.run_id.unique", "passed": False}]
    at = datetime(2026, 1, day, tzinfo=UTC)
    return {
        "gate_result_id": gate_id,
        "gate_run_id": f"run-{gate_id}",
        "table": table,
        "table_version": version,
        "suite": f"{table}@test",
        "passed": passed,
        "expectations": [
            {"family": "key", "expectation_type": "t", "observed_value": "{}", **e} for e in failing
        ],
        "reference_versions": "{}",
        "engine": "bridge",
        "data_docs": "",
        "started_at": at,
        "finished_at": at,
    }


def test_gate_check_refuses_a_failed_gate_unless_forced(gold_ctx: JobContext) -> None:
    lake = gold_ctx.lake
    examples = lake.version(catalog.get("gold.examples"))
    preferences = lake.version(catalog.get("gold.preferences"))
    rows = [
        _gate_row("g1", "gold.examples", examples, True, 1),
        _gate_row("g2", "gold.examples", examples, False, 2),
        _gate_row("g3", "gold.preferences", preferences, True, 2),
    ]
    lake.append(GATE_RESULTS, pa.Table.from_pylist(rows, schema=GATE_RESULTS.schema))
    with pytest.raises(
        GateFailedError,
        match=r"gold.examples version \d+ failed .*\(g2\): gold.examples.run_id."
        r"unique; .*--force",
    ):
        export_dataset(gold_ctx, "sft")
    forced = read_manifest(export_dataset(gold_ctx, "sft", force=True).manifest)
    assert forced.gates_forced and forced.gate_result_ids == ["g2"]
    dpo = read_manifest(export_dataset(gold_ctx, "dpo").manifest)
    assert dpo.gate_result_ids == ["g3"] and not dpo.gates_forced
    # A newer version of a gated table is refused until the gates validated it.
    append(gold_ctx, "gold.preferences", pair_rows(5, seed=9))
    with pytest.raises(GateFailedError, match=r"never gated .*tracelake gate --table"):
        export_dataset(gold_ctx, "dpo")


def test_trainer_fixture_writes_through_the_exporter(tmp_path: Path) -> None:
    """tests/trainer_fixture.py (the trainer tests' export) uses the real shard writer."""
    from trainer_fixture import write_all

    for dataset, path in write_all(str(tmp_path), n_sft=60, n_pairs=10).items():
        manifest = open_verified(path)
        assert manifest.dataset.value == dataset
        assert all(len(e.shards) == 2 for e in manifest.splits.values())
        check_columns(manifest, dataset, path)
        rows = [r for s in manifest.splits for r in read_split(path, manifest, s)]
        assert len(rows) == manifest.total_rows()


def test_rows_stream_in_table_order_whatever_the_batch_size(
    ctx: JobContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows come in the order their files were added (no global sort); tiny batches give the
    same rows in the same shards (the bytes may differ: a row group's chunking follows the
    batches, which is why the batch size is part of the writer layout)."""
    from tracelake.jobs.lake import store

    for seed in (3, 2, 1):  # later appends hold smaller keys
        rows = example_rows(300, seed=seed, pad=100)
        for i, row in enumerate(rows):
            row["example_id"] = f"ex-{seed}-{i:04d}"
        append(ctx, "gold.examples", rows)
    ctx.settings.export.shard_bytes = 64 * 1024
    first = export_dataset(ctx, "sft", build_id="b", to=str(tmp_path / "default"))
    monkeypatch.setattr(store, "BATCH_BYTES", 4096)  # batches of the 64-row minimum
    second = export_dataset(ctx, "sft", build_id="b", to=str(tmp_path / "tiny"))
    a, b = read_manifest(first.manifest), read_manifest(second.manifest)
    assert len(a.splits["train"].shards) > 1
    for split in a.splits:
        assert read_split(first.manifest, a, split) == read_split(second.manifest, b, split)
    ids = [r["example_id"] for r in read_split(first.manifest, a, "train")]
    assert [i.split("-")[1] for i in ids] == ["3"] * 180 + ["2"] * 180 + ["1"] * 180
    assert ids[:180] == sorted(ids[:180])


def test_a_failing_split_writer_stops_the_export(
    gold_ctx: JobContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tracelake.jobs.export import shards

    add = shards.SplitWriter.add

    def failing(self: shards.SplitWriter, batch: pa.RecordBatch) -> None:
        if self.split == "validation":
            raise OSError("disk full")
        add(self, batch)

    monkeypatch.setattr(shards.SplitWriter, "add", failing)
    with pytest.raises(OSError, match="disk full"):
        export_dataset(gold_ctx, "sft")
    assert not _visible(Path(gold_ctx.settings.export_root))


def test_a_data_file_that_predates_a_column_streams_it_as_nulls(tmp_path: Path) -> None:
    from tracelake.jobs.lake.store import DataFile, iter_data_file

    spec = catalog.get("gold.preferences")
    rows = pa.Table.from_pylist(pair_rows(3), schema=spec.schema)
    path = tmp_path / "old.parquet"
    pq.write_table(rows.drop_columns(["annotator"]), path)
    file = DataFile(str(path), path.stat().st_size, 3, {})
    (batch,) = list(iter_data_file(file, spec, list(spec.schema.names), {}))
    assert batch.schema == spec.schema
    assert batch.column("annotator").null_count == 3
    assert batch.column("pair_id").to_pylist() == rows["pair_id"].to_pylist()


def test_a_read_failure_mid_stream_publishes_nothing(
    gold_ctx: JobContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tracelake.jobs.export import job

    real = job.iter_data_file

    def breaks(*args: Any, **kwargs: Any) -> Iterator[pa.RecordBatch]:
        yield from itertools.islice(real(*args, **kwargs), 1)
        raise OSError("connection reset while reading a data file")

    monkeypatch.setattr(job, "iter_data_file", breaks)
    with pytest.raises(OSError, match="connection reset"):
        export_dataset(gold_ctx, "sft")
    assert not _visible(Path(gold_ctx.settings.export_root))
