"""Native Delta (delta-spark) and the delta-rs bridge, proven on the same jobs.

Golden tests: for every derived job that `tracelake build` runs, the same bronze gives the same
derived tables (rows compared after sorting) on both engines, on local disk and on S3 (SeaweedFS;
S3A on the native path), first run and incremental run alike. One Spark session serves both
engines (it has the Delta extension; the bridge is a Python data source), switched per block
with `spark_io.using_engine`. Also: each engine's exactly-once bookmarks are seen by the other.
Skipped when the native jars are not cached (`make native-jars`)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tracelake.jobs import build
from tracelake.jobs.context import JobContext
from tracelake.jobs.lake import Lake, spark_io
from tracelake.jobs.runner import run_job
from tracelake.jobs.spark import native_delta_available

from .conftest import BASE_TS, ingest_events, make_run

pytestmark = pytest.mark.spark
ENGINES = ("native", "bridge")


@pytest.fixture
def native(spark):
    if not native_delta_available(spark):
        pytest.skip("native Delta jars are not cached here: run `make native-jars`")
    return spark


# Stamped by each ingest run (and each lake reads its own copy of the input files), so two
# lakes fed the same events differ there by construction.
VOLATILE_COLUMNS = frozenset({"ingested_at", "batch_id", "source_uri"})


def _sorted_rows(lake: Lake, spec) -> list[str]:
    rows = lake.read(spec).to_pylist() if lake.version(spec) is not None else []
    rows = [{k: v for k, v in r.items() if k not in VOLATILE_COLUMNS} for r in rows]
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)


def _runs(rng, prefix: str, n: int, start_offset_s: int = 0) -> list[dict[str, Any]]:
    from datetime import timedelta

    events = []
    for i in range(n):
        start = BASE_TS + timedelta(seconds=start_offset_s + i * 40)
        events += make_run(
            f"{prefix}{i}",
            start,
            rng,
            steps=1 + i % 3,
            ending=(None, "run_completed", "run_failed")[i % 3],
            with_error=i % 4 == 0,
        )
    return events


def _golden(
    native_spark, contexts: dict[str, JobContext], tmp_path, rng, only: frozenset[str] | None = None
) -> None:
    jobs = [j for j in build.derived_jobs() if only is None or j.name in only]
    first = _runs(rng, "r", 12)
    late = (
        _runs(rng, "s", 4, start_offset_s=5)
        + [  # more runs, and late events of old runs
            {**e, "event_id": e["event_id"] + "-late", "seq": e["seq"] + 100} for e in first[:3]
        ]
    )
    for batch, events in (("first", first), ("late", late)):
        for engine, ctx in contexts.items():
            ingest_events(ctx, tmp_path / engine / batch, events, batch)
            with spark_io.using_engine(engine):
                for job in jobs:
                    result = run_job(ctx, job, spark=native_spark)
                    # Every job runs on an empty lake's first batch. Later, noop: the job's
                    # sources gained versions without data (an upstream job committed only its
                    # bookmark). Native Delta commits an empty write that way while the bridge
                    # writes an empty file, so the two engines may differ in whether a job
                    # runs; the tables they leave must not.
                    allowed = ("succeeded",) if batch == "first" else ("succeeded", "noop")
                    assert result.status in allowed, (engine, batch, job.name, result)
        for job in jobs:
            native_rows, bridge_rows = (_sorted_rows(contexts[e].lake, job.output) for e in ENGINES)
            if job.output.qualified_name in ("silver.events", "silver.runs"):
                assert native_rows, (batch, job.name)
            assert native_rows == bridge_rows, (batch, job.name)


def test_same_bronze_same_derived_tables_on_a_local_lake(native, tmp_path, rng):
    from tracelake.jobs.settings import Settings

    contexts = {
        e: JobContext.create(Settings(lake_root=str(tmp_path / f"lake-{e}"))) for e in ENGINES
    }
    _golden(native, contexts, tmp_path, rng)
    _same_gate_outcomes(native, contexts)


def _same_gate_outcomes(native_spark, contexts: dict[str, JobContext]) -> None:
    """The quality gates read each table through the engine in use: both engines reach the
    same verdict on every expectation of the tables the export reads."""
    from tracelake.jobs.lake import catalog
    from tracelake.jobs.quality.gates import run_gates

    verdicts = {}
    for engine, ctx in contexts.items():
        with spark_io.using_engine(engine):
            run = run_gates(ctx, spark=native_spark)
        assert run.results, engine
        verdicts[engine] = sorted(
            (gate.table, o.name, o.passed, o.unexpected_count)
            for gate in run.results
            for o in gate.expectations
        )
        recorded = ctx.lake.read(catalog.OPS_GATE_RESULTS, columns=["engine"]).to_pylist()
        assert {r["engine"] for r in recorded} == {engine}
    assert verdicts["native"] == verdicts["bridge"]


@pytest.mark.s3
def test_same_bronze_same_derived_tables_on_an_s3_lake(native, s3_server, tmp_path, rng):
    from tracelake.jobs.settings import Settings

    contexts = {}
    for engine in ENGINES:
        suffix = re.sub(r"[^a-z0-9]", "", tmp_path.name.lower())[-8:]
        bucket = s3_server.create_bucket(f"golden-{engine}-{suffix}")
        contexts[engine] = JobContext.create(
            Settings(
                lake_root=f"s3://{bucket}/lake",
                s3={
                    "endpoint_url": s3_server.endpoint,
                    "access_key_id": s3_server.access_key,
                    "secret_access_key": s3_server.secret_key,
                },
            )
        )
    # Storage differs from local disk only in the I/O layer (S3A for native, delta-rs and
    # pyarrow S3 for the bridge): the jobs that read and write through every path of it (full
    # and incremental Spark reads, small local reads, file rewrites) stand for all of them; the
    # local golden test covers every job's logic on both engines.
    _golden(native, contexts, tmp_path, rng, only=S3_GOLDEN_JOBS)


S3_GOLDEN_JOBS = frozenset({"scrub_events", "project_runs", "component_usage"})


def test_bookmarks_written_by_one_engine_are_seen_by_the_other(native, ctx):
    import pyarrow as pa

    from tracelake.jobs.lake.catalog import TableSpec

    spec = TableSpec(tier="test", name="bookmarks", schema=pa.schema([("item", pa.string())]))
    df = native.createDataFrame([("x",)], "item string")
    with spark_io.using_engine("native"):
        first = spark_io.write(df, spec, lake=ctx.lake, app_txn=("native-writer", 3))
    assert first.version is not None
    # delta-rs reads delta-spark's txn action...
    assert ctx.lake.txn_version(spec, "native-writer") == 3
    with spark_io.using_engine("bridge"):
        again = spark_io.write(df, spec, lake=ctx.lake, app_txn=("native-writer", 3))
        assert again.version is None  # ...so the bridge writes nothing for a done version
        bridged = spark_io.write(df, spec, lake=ctx.lake, app_txn=("bridge-writer", 5))
    assert bridged.version is not None
    # ...and delta-spark skips a version the bridge committed (its own txnAppId check).
    version = ctx.lake.version(spec)
    with spark_io.using_engine("native"):
        spark_io._write_native(df, spec, ctx.lake, "append", [("bridge-writer", 5)], "x")
    assert ctx.lake.version(spec) == version


@pytest.mark.s3
def test_concurrent_native_writers_in_one_driver_on_s3(native, s3_settings):
    """Native Delta on S3 serialises commits within one Spark driver (its single-driver log
    store); several drivers need a multi-cluster log store (docs/spark.md)."""
    import threading

    import pyarrow as pa

    from tracelake.jobs.lake.catalog import TableSpec

    lake = Lake.from_settings(s3_settings)
    spec = TableSpec(tier="test", name="concurrent", schema=pa.schema([("item", pa.string())]))
    errors: list[BaseException] = []

    def write(w: int) -> None:
        try:
            with spark_io.using_engine("native"):
                for i in range(2):
                    df = native.createDataFrame([(f"w{w}-{i}",)], "item string")
                    spark_io.write(df, spec, lake=lake)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    ids = sorted(r["item"] for r in lake.read(spec).to_pylist())
    assert ids == sorted(f"w{w}-{i}" for w in range(3) for i in range(2))


@pytest.mark.parametrize("engine", ENGINES)
def test_a_checked_commit_vouches_for_its_rows_on_either_engine(native, ctx, engine):
    """The gold jobs' `row_rules_checked` commit metadata (a top-level commitInfo key on the
    bridge, inside `userMetadata` on native Delta) reads back the same: the gate may judge the
    row rules from that commit, and not from a plain write after it."""
    import pyarrow as pa

    from tracelake.jobs.lake import catalog
    from tracelake.jobs.quality.commit_checks import checked_by_commits
    from tracelake.jobs.quality.rows import checked_metadata, rules_id

    from ..quality.conftest import example_rows

    spec, name = catalog.GOLD_EXAMPLES, catalog.GOLD_EXAMPLES.qualified_name
    ctx.lake.ensure(spec)

    def rows(n: int, seed: int):
        return spark_io.from_arrow(native, pa.Table.from_pylist(example_rows(n, seed), spec.schema))

    with spark_io.using_engine(engine):
        checked = spark_io.write(
            rows(4, 1),
            spec,
            lake=ctx.lake,
            mode="overwrite",
            metadata={"job": "test", **checked_metadata(name, carried=False)},
        )
        assert checked.version is not None and checked.files_added > 0
        (info,) = ctx.lake.history(spec, limit=1)
        assert str(info.get("engineInfo")).startswith("delta-rs") == (engine == "bridge")
        assert checked_by_commits(ctx.lake, spec, checked.version, rules_id(name)) == [
            checked.version
        ]
        plain = spark_io.write(rows(2, 2), spec, lake=ctx.lake, metadata={"job": "test"})
    assert plain.version is not None
    assert checked_by_commits(ctx.lake, spec, plain.version, rules_id(name)) is None
