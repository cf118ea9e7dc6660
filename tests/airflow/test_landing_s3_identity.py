"""The S3 landing ledger: objects identified by ETag, listings that grow with the new objects."""

from __future__ import annotations

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from tracelake.jobs.context import JobContext
from tracelake.jobs.ingest.sources import s3_filesystem
from tracelake.jobs.landing import LANDING_FILES, LandingZone

pytestmark = [pytest.mark.airflow, pytest.mark.s3]

# The ledger's columns before it recorded ETags.
LANDING_FILES_OLD = ("landing", "uri", "size", "mtime_ns", "run_key", "consumed_at")


def _put(settings, fs, key: str, data: bytes) -> None:
    prefix = settings.landing.removeprefix("s3://")
    with fs.open_output_stream(f"{prefix}/{key}") as out:
        out.write(data)


@pytest.fixture
def zone_fs(s3_settings):
    ctx = JobContext.create(s3_settings)
    fs = s3_filesystem(s3_settings.storage_options_for(s3_settings.landing))
    return ctx, LandingZone(ctx), fs


def test_overwrite_with_same_size_lands_again_and_a_relisted_object_does_not(s3_settings, zone_fs):
    ctx, zone, fs = zone_fs
    _put(s3_settings, fs, "day=1/a.jsonl", b'{"v": "AAAA"}\n')
    first = zone.pending()
    assert [f.uri for f in first.pending] == [f"{s3_settings.landing}/day=1/a.jsonl"]
    assert first.pending[0].etag
    zone.mark_consumed(first.pending, "run-1", first.watermark)
    # Listed twice, consumed once.
    assert zone.pending().pending == []
    assert zone.pending(full=True).pending == []

    # Same key, same size, within the same second: only the ETag tells them apart.
    _put(s3_settings, fs, "day=1/a.jsonl", b'{"v": "BBBB"}\n')
    again = zone.pending()  # the default watermark lag keeps recent keys in the listing
    assert len(again.pending) == 1
    new = again.pending[0]
    assert new.size == first.pending[0].size and new.etag != first.pending[0].etag
    assert new.mtime_ns // 10**9 - first.pending[0].mtime_ns // 10**9 <= 1
    zone.mark_consumed(again.pending, "run-2", again.watermark)
    assert zone.pending().pending == []
    assert zone.pending(full=True).pending == []
    ledger = ctx.lake.read(LANDING_FILES)
    assert len(set(ledger["etag"].to_pylist())) == 2


def test_an_overwrite_below_the_watermark_is_found_by_a_full_reconcile(s3_settings, zone_fs):
    _, zone, fs = zone_fs
    for name in ("a", "b"):
        _put(s3_settings, fs, f"{name}.jsonl", b"1234\n")
    pickup = zone.pending(watermark_lag_s=0)
    assert pickup.watermark == zone._s3_key(f"{s3_settings.landing}/b.jsonl")
    zone.mark_consumed(pickup.pending, "run-1", pickup.watermark)
    assert zone.watermark() == pickup.watermark

    _put(s3_settings, fs, "a.jsonl", b"5678\n")
    incremental = zone.pending(watermark_lag_s=0)
    assert incremental.pending == [] and incremental.listed == 0  # the documented trade
    reconcile = zone.pending(full=True, watermark_lag_s=0)
    assert [f.uri for f in reconcile.pending] == [f"{s3_settings.landing}/a.jsonl"]
    assert reconcile.listed == 2


def test_ledger_written_before_etags_still_counts_its_files(s3_settings, zone_fs):
    """An existing lake's ledger has no etag/version_id/watermark columns: its rows match by
    (uri, size, mtime_ns), and the next mark adds the columns."""
    ctx, zone, fs = zone_fs
    _put(s3_settings, fs, "old.jsonl", b"old\n")
    (old,) = zone.list()
    legacy = pa.schema([f for f in LANDING_FILES.schema if f.name in LANDING_FILES_OLD])
    rows = pa.Table.from_pylist(
        [
            {
                "landing": zone.root,
                "uri": old.uri,
                "size": old.size,
                "mtime_ns": old.mtime_ns,
                "run_key": "before-etags",
                "consumed_at": pa.scalar(0, pa.timestamp("us", tz="UTC")).as_py(),
            }
        ],
        schema=legacy,
    )
    write_deltalake(
        ctx.lake.uri(LANDING_FILES), rows, storage_options=dict(ctx.lake.storage_options)
    )
    assert zone.pending().pending == []

    _put(s3_settings, fs, "new.jsonl", b"new\n")
    pickup = zone.pending()
    assert [f.uri for f in pickup.pending] == [f"{s3_settings.landing}/new.jsonl"]
    zone.mark_consumed(pickup.pending, "run-1", pickup.watermark)
    ledger = ctx.lake.read(LANDING_FILES)
    assert ledger["etag"].to_pylist().count(None) == 1
    assert zone.pending().pending == [] and zone.pending(full=True).pending == []


@pytest.mark.slow
def test_listing_cost_grows_with_the_new_objects_not_the_history(s3_settings, zone_fs):
    """2,000 time-ordered keys landed in 5 batches: every pickup lists only its batch."""
    _, zone, fs = zone_fs
    batch, batches = 400, 5
    costs = []
    for b in range(batches):
        for i in range(b * batch, (b + 1) * batch):
            _put(s3_settings, fs, f"2026/03/01/{i:06d}.jsonl", f"{i}\n".encode())
        pickup = zone.pending(watermark_lag_s=0)
        assert len(pickup.pending) == batch and pickup.already_consumed == 0
        costs.append(pickup.listed)
        zone.mark_consumed(pickup.pending, f"run-{b}", pickup.watermark)
    assert costs == [batch] * batches  # O(new), not O(all): the 5th run lists 400, not 2,000
    last = zone.pending(watermark_lag_s=0)
    assert last.pending == [] and last.listed == 0
    reconcile = zone.pending(full=True)
    assert reconcile.pending == [] and reconcile.listed == batch * batches
