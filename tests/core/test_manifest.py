"""The export manifest: layout, hashing, and verification locally and on a real S3 server."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from trainer_fixture import sft_rows, write_export

from tracelake.schemas.manifest import (
    SHARD_NAME,
    ManifestError,
    open_verified,
    read_manifest,
    verify_shards,
)


def test_fixture_export_has_hf_layout_and_verifies(tmp_path: Path) -> None:
    path = write_export(str(tmp_path), "sft", sft_rows(30, seed=1))
    manifest = open_verified(path)
    assert manifest.dataset.value == "sft" and manifest.build_id == "b0001"
    assert manifest.total_rows() == 30
    assert {"messages", "tools", "phase", "split", "run_id"} <= manifest.column_names()
    for split, entry in manifest.splits.items():
        for shard in entry.shards:
            match = SHARD_NAME.match(Path(shard.path).name)
            assert match and match["split"] == split
            table = pq.read_table(Path(path).parent / shard.path)
            assert table.num_rows == shard.rows
    assert sum(manifest.counts["phase"].values()) == 30
    # The JSON on disk uses the documented key `schema` for the columns.
    assert "schema" in json.loads(Path(path).read_text())


def test_altered_and_missing_shards_are_named(tmp_path: Path) -> None:
    path = write_export(str(tmp_path), "sft", sft_rows(30, seed=1))
    manifest = read_manifest(path)
    first = Path(path).parent / manifest.splits["train"].shards[0].path
    data = bytearray(first.read_bytes())
    data[-20] ^= 0xFF
    first.write_bytes(bytes(data))
    (Path(path).parent / manifest.splits["validation"].shards[0].path).unlink()
    problems = verify_shards(path)
    assert len(problems) == 2
    assert any("differs from the manifest" in p for p in problems)
    assert any("shard missing" in p for p in problems)
    with pytest.raises(ManifestError, match="and 1 more"):
        open_verified(path)


def test_missing_or_invalid_manifest_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no manifest there"):
        read_manifest(str(tmp_path))
    (tmp_path / "manifest.json").write_text('{"dataset": "sft"}')
    with pytest.raises(ManifestError, match="not a valid export manifest") as info:
        read_manifest(str(tmp_path))
    assert "\n" not in str(info.value)


@pytest.mark.s3
def test_manifest_verifies_on_s3(s3_server, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    bucket = s3_server.create_bucket(f"exports-{uuid.uuid4().hex[:8]}")
    fs = s3_server.filesystem()
    key = write_export(f"{bucket}/exports", "sft", sft_rows(20, seed=2), filesystem=fs)
    uri = f"s3://{key}"
    assert open_verified(uri).total_rows() == 20
    # Folder URIs work too, and an altered object is caught.
    assert read_manifest(uri.rsplit("/", 1)[0]).build_id == "b0001"
    shard = read_manifest(uri).splits["train"].shards[0]
    target = f"{bucket}/exports/sft/b0001/{shard.path}"
    with fs.open_output_stream(target) as out:
        out.write(b"not the exported bytes")
    with pytest.raises(ManifestError, match="differs from the manifest"):
        open_verified(uri)
