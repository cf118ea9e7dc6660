"""MDS export, proven with mosaicml-streaming's own reader: `streaming.StreamingDataset` in
.venv-mds (`make mds-env`; its numpy<2.2 / transformers<5 pins cannot share .venv) reads every
split of the MDS build, and every field of every row equals the Parquet build of the same
table versions."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tracelake.jobs.context import JobContext
from tracelake.jobs.export.job import export_dataset, verify
from tracelake.jobs.export.mds import INDEX_NAME
from tracelake.schemas.manifest import ShardFormat, open_verified

REPO = Path(__file__).resolve().parents[2]
MDS_PYTHON = REPO / ".venv-mds" / "bin" / "python"
READER = Path(__file__).with_name("mds_read.py")


def _parquet_rows(manifest_uri: str, split: str) -> list[dict]:
    manifest = open_verified(manifest_uri)
    folder = Path(manifest_uri).parent
    rows: list[dict] = []
    for shard in manifest.splits[split].shards:
        rows.extend(pq.read_table(folder / shard.path).to_pylist())
    return rows


def test_mds_shards_are_listed_hashed_and_rebuilt_byte_identical(gold_ctx: JobContext) -> None:
    outcome = export_dataset(gold_ctx, "sft", fmt="mds")
    manifest = open_verified(outcome.manifest)
    assert manifest.format is ShardFormat.mds
    build = Path(outcome.manifest).parent
    for split, entry in manifest.splits.items():
        names = [s.path for s in entry.shards]
        assert names == [f"{split}/shard.{i:05d}.mds" for i in range(len(names))]
        index = json.loads((build / split / INDEX_NAME).read_text())
        assert [s["raw_data"]["basename"] for s in index["shards"]] == [
            n.split("/")[1] for n in names
        ]
        assert [s["samples"] for s in index["shards"]] == [s.rows for s in entry.shards]
    assert len(manifest.splits["train"].shards) > 1
    assert verify(outcome.manifest) == []
    first = {p.relative_to(build): p.read_bytes() for p in build.rglob("*") if p.is_file()}
    # Rebuild the same build id in a fresh destination: the same bytes, shard by shard.
    again = export_dataset(
        gold_ctx, "sft", fmt="mds", to=str(Path(gold_ctx.settings.export_root) / "again")
    )
    assert again.build_id == outcome.build_id
    rebuilt = Path(again.manifest).parent
    second = {p.relative_to(rebuilt): p.read_bytes() for p in rebuilt.rglob("*") if p.is_file()}
    shards = {k for k in first if k.name != "manifest.json"}
    assert shards and {k: first[k] for k in shards} == {k: second[k] for k in shards}


@pytest.mark.skipif(
    not MDS_PYTHON.exists(),
    reason=".venv-mds does not exist (run `make mds-env`; `make test` creates it)",
)
@pytest.mark.parametrize("dataset", ["sft", "constitutional"])
def test_streaming_dataset_reads_the_mds_export(
    gold_ctx: JobContext, dataset: str, tmp_path: Path
) -> None:
    mds = export_dataset(gold_ctx, dataset, fmt="mds")
    parquet = export_dataset(gold_ctx, dataset, fmt="parquet")
    assert mds.source_table_versions == parquet.source_table_versions
    splits = sorted(open_verified(mds.manifest).splits)
    proc = subprocess.run(
        [str(MDS_PYTHON), str(READER), str(Path(mds.manifest).parent), str(tmp_path), *splits],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    versions = json.loads(proc.stdout.strip().splitlines()[-1])
    assert versions["streaming"] == "0.13.0"
    for split in splits:
        expected = _parquet_rows(parquet.manifest, split)
        lines = (tmp_path / f"{split}.jsonl").read_text().splitlines()
        assert len(lines) == len(expected) == open_verified(mds.manifest).splits[split].rows
        for got, want in zip(map(json.loads, lines), expected, strict=True):
            assert got == want
