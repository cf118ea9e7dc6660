"""kill -9 of `tracelake build` at a deterministic point, then the build again: every table the
build writes equals that of a build of a copy of the same bronze that was never interrupted
(the first five jobs of a build here; the whole build under random kills in `make chaos`).

The kill lands right after the Nth derived job's commit (its data and bookmarks are in, its
ops.job_runs row is not) or right before it (Spark has written data files that no commit
names). The rerun must neither repeat the committed job's rows nor pick up the orphaned files.
Random kill times run in `make chaos` (RUN_CHAOS=1)."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Collection
from pathlib import Path

import pytest

from tracelake.jobs import build
from tracelake.jobs.context import JobContext
from tracelake.jobs.lake import catalog
from tracelake.jobs.registry import discover
from tracelake.jobs.settings import Settings

pytestmark = pytest.mark.spark

# Runs the build, killing itself with SIGKILL before or after the Nth derived-table commit.
KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from tracelake.jobs import build
    from tracelake.jobs.context import JobContext
    from tracelake.jobs.lake import spark_io
    from tracelake.jobs.settings import load_settings

    when, nth = sys.argv[1], int(sys.argv[2])
    only = sys.argv[3].split(",") if len(sys.argv) > 3 else None
    calls = {"n": 0}
    real_write = spark_io.write

    def write(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == nth and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        outcome = real_write(*args, **kwargs)
        if calls["n"] == nth:
            os.kill(os.getpid(), signal.SIGKILL)
        return outcome

    spark_io.write = write
    build.run(JobContext.create(load_settings()), only=only)
    """
)
CHAOS = pytest.mark.skipif(not os.environ.get("RUN_CHAOS"), reason="make chaos")
TRACELAKE = str(Path(sys.executable).with_name("tracelake"))
# The jobs a deterministic kill is checked on: the first commits of a build and the jobs that
# read them, so the rerun has committed work to skip and downstream work to finish. The whole
# build is killed at random points in `make chaos`.
KILLED_BUILD = ("scrub_events", "scrub_log", "component_usage", "project_runs", "run_roles")
# Stamped per ingest or per job run, not derived from the data.
VOLATILE = frozenset({"ingested_at", "batch_id", "computed_at", "updated_at", "built_at"})


def env_for(lake: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("TRACELAKE_")},
        "TRACELAKE_LAKE_ROOT": str(lake),
    }


@pytest.fixture(scope="module")
def bronze(tmp_path_factory) -> Path:
    """A lake holding bronze only: 20 simulated runs, ingested once (copies stay identical)."""
    root = tmp_path_factory.mktemp("bronze")
    lake, traces = root / "lake", root / "traces"
    for command in (
        [TRACELAKE, "simulate", "--runs", "20", "--seed", "3", "--out", str(traces)],
        [TRACELAKE, "ingest", str(traces)],
    ):
        done = subprocess.run(command, env=env_for(lake), capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
    return lake


def uninterrupted(bronze: Path, lake: Path, jobs: Collection[str] | None) -> dict[str, list[str]]:
    """The tables `jobs` write (default: all) after an uninterrupted build of the same bronze."""
    shutil.copytree(bronze, lake)
    ctx = JobContext.create(Settings(lake_root=str(lake)))
    assert build.run(ctx, only=jobs).status == "succeeded"
    return derived_tables(ctx, jobs)


@pytest.fixture(scope="module")
def reference(bronze, tmp_path_factory, spark) -> dict[str, list[str]]:
    return uninterrupted(bronze, tmp_path_factory.mktemp("reference") / "lake", KILLED_BUILD)


@pytest.fixture(scope="module")
def whole_reference(bronze, tmp_path_factory, spark) -> dict[str, list[str]]:
    return uninterrupted(bronze, tmp_path_factory.mktemp("whole") / "lake", None)


def derived_tables(ctx: JobContext, jobs: Collection[str] | None = None) -> dict[str, list[str]]:
    """The rows (less the volatile columns) of the tables `jobs` write (default: every job)."""
    tables = {}
    written = {t for job in discover() if jobs is None or job.name in jobs for t in job.writes}
    for name in sorted(written):
        spec = catalog.get(name)
        rows = ctx.lake.read(spec).to_pylist() if ctx.lake.version(spec) is not None else []
        rows = [{k: v for k, v in r.items() if k not in VOLATILE} for r in rows]
        tables[name] = sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)
    return tables


def kill_then_rebuild(
    bronze: Path, lake: Path, when: str, nth: int, jobs: Collection[str]
) -> JobContext:
    shutil.copytree(bronze, lake)
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, when, str(nth), ",".join(jobs)],
        env=env_for(lake),
        capture_output=True,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    ctx = JobContext.create(Settings(lake_root=str(lake)))
    assert build.run(ctx, only=jobs).status == "succeeded"
    return ctx


@pytest.mark.parametrize(
    ("when", "nth"),
    [
        pytest.param("after", 2, id="after-second-commit"),
        pytest.param("before", 3, id="before-third-commit", marks=CHAOS),
    ],
)
def test_killed_build_then_build_equals_an_uninterrupted_one(
    bronze, reference, tmp_path, when, nth
) -> None:
    ctx = kill_then_rebuild(bronze, tmp_path / "lake", when, nth, KILLED_BUILD)
    rebuilt = derived_tables(ctx, KILLED_BUILD)
    assert rebuilt.keys() == reference.keys()
    for table, rows in reference.items():
        assert rebuilt[table] == rows, f"{table}: differs after a killed build and a rerun"
    assert sum(map(len, reference.values())) > 0


@CHAOS
def test_random_kills_then_build_equals_an_uninterrupted_one(bronze, whole_reference, tmp_path):
    lake = tmp_path / "lake"
    shutil.copytree(bronze, lake)
    rng = random.Random(int(os.environ.get("CHAOS_SEED", "0")))
    for _ in range(int(os.environ.get("CHAOS_ROUNDS", "5"))):
        proc = subprocess.Popen([TRACELAKE, "build"], env=env_for(lake))
        time.sleep(rng.uniform(5.0, 40.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    ctx = JobContext.create(Settings(lake_root=str(lake)))
    assert build.run(ctx).status == "succeeded"
    assert derived_tables(ctx) == whole_reference
