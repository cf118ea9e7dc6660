"""Export to S3 (the SeaweedFS test server): shards first, manifest last, so a reader polling
the export prefix sees either no build or a complete, verifiable one; a crashed upload's
leftovers are invisible and cleaned by the next export."""

from __future__ import annotations

import threading

import pyarrow.fs as pafs
import pytest

from tracelake.jobs.context import JobContext
from tracelake.jobs.export.job import destination, export_dataset, list_builds, verify
from tracelake.jobs.settings import Settings
from tracelake.schemas.manifest import read_manifest

from .conftest import write_gold

pytestmark = pytest.mark.s3


def test_s3_export_is_never_seen_partial(s3_settings: Settings) -> None:
    ctx = JobContext.create(s3_settings)
    write_gold(ctx, n_examples=600, n_pairs=20, pad=300)
    ctx.settings.export.shard_bytes = 24 * 1024  # many small shards: a long upload
    ctx.settings.export.row_groups_per_shard = 8
    options = s3_settings.storage_options_for(s3_settings.export_root)
    dest = destination(s3_settings.export_root, options)
    # A crashed upload of the same build: a shard and no manifest.
    dest.fs.create_dir(f"{dest.path}/sft/b-s3/train", recursive=True)
    with dest.fs.open_output_stream(
        f"{dest.path}/sft/b-s3/train/train-00000-of-00009.parquet"
    ) as f:
        f.write(b"partial")
    assert list_builds(dest, "sft") == []

    seen: list[tuple[str, list[str]]] = []
    polls = [0]
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            polls[0] += 1
            for manifest in list_builds(dest, "sft"):
                seen.append((manifest, verify(manifest, options)))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        outcome = export_dataset(ctx, "sft", build_id="b-s3")
    finally:
        stop.set()
        thread.join(timeout=60)
    assert outcome.manifest == f"{s3_settings.export_root}/sft/b-s3/manifest.json"
    assert outcome.cleaned == (f"{s3_settings.export_root}/sft/b-s3",)
    manifest = read_manifest(outcome.manifest, dest.fs)
    assert manifest.total_rows() == 600 and outcome.shards >= 6
    assert verify(outcome.manifest, options) == []
    assert all(problems == [] for _, problems in seen), seen
    assert list_builds(dest, "sft") == [outcome.manifest]
    assert polls[0] > 1  # the reader polled while the export uploaded
    # Rebuilding it is a no-op; what the crash left is gone: only the manifest's files remain.
    assert export_dataset(ctx, "sft", build_id="b-s3").status == "unchanged"
    files = dest.fs.get_file_info(pafs.FileSelector(f"{dest.path}/sft/b-s3", recursive=True))
    listed = {f"{dest.path}/sft/b-s3/{s.path}" for e in manifest.splits.values() for s in e.shards}
    assert {f.path for f in files if f.type == pafs.FileType.File} == {
        *listed,
        f"{dest.path}/sft/b-s3/manifest.json",
    }


def test_s3_mds_export_uploads_each_split_index(s3_settings: Settings) -> None:
    """MDS goes through the same upload: shards, then each split's index.json, manifest last."""
    ctx = JobContext.create(s3_settings)
    write_gold(ctx, n_examples=200, n_pairs=10)
    ctx.settings.export.shard_bytes = 64 * 1024
    options = s3_settings.storage_options_for(s3_settings.export_root)
    dest = destination(s3_settings.export_root, options)
    outcome = export_dataset(ctx, "sft", fmt="mds", build_id="b-mds")
    manifest = read_manifest(outcome.manifest, dest.fs)
    assert manifest.format.value == "mds" and verify(outcome.manifest, options) == []
    folder = f"{dest.path}/sft/b-mds"
    files = dest.fs.get_file_info(pafs.FileSelector(folder, recursive=True))
    listed = {f"{folder}/{s.path}" for e in manifest.splits.values() for s in e.shards}
    indexes = {f"{folder}/{split}/index.json" for split in manifest.splits}
    assert {f.path for f in files if f.type == pafs.FileType.File} == {
        *listed,
        *indexes,
        f"{folder}/manifest.json",
    }
    assert export_dataset(ctx, "sft", fmt="mds", build_id="b-mds").status == "unchanged"
