"""kill -9 of ingest at a deterministic point of each writer (events, quarantine, job runs),
then the same ingest again: exactly the expected events and quarantine rows, computed from the
input here. Random kill times run in `make chaos` (RUN_CHAOS=1)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import orjson
import pytest
from eventlines import event, write_lines

from tracelake.jobs.context import JobContext
from tracelake.jobs.lake import catalog
from tracelake.jobs.settings import Settings

# Runs ingest, killing itself with SIGKILL at the chosen point of the chosen writer.
KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from tracelake.jobs.context import JobContext
    from tracelake.jobs.ingest import job
    from tracelake.jobs.lake import catalog
    from tracelake.jobs.lake.store import Lake
    from tracelake.jobs.settings import load_settings

    point, nth, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    calls = {"n": 0}
    real_commit_files, real_append = Lake.commit_files, Lake.append

    when, target = point.split(":")

    def die_at(kind, spec, call):
        if kind != target:
            return call()
        calls["n"] += 1
        if calls["n"] == nth and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        result = call()
        if calls["n"] == nth:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    def commit_files(self, spec, files, **kw):
        return die_at("events", spec, lambda: real_commit_files(self, spec, files, **kw))

    def append(self, spec, data, **kw):
        return die_at(spec.name, spec, lambda: real_append(self, spec, data, **kw))

    Lake.commit_files, Lake.append = commit_files, append
    job.run(JobContext.create(load_settings()), paths)
    """
)


def make_input(root: Path) -> tuple[list[str], set[str], set[tuple[str, str]]]:
    """Two files sharing 100 events, with bad lines; returns paths, the event ids and the
    (file, position) of every bad record, computed from what was written."""
    a = [event(i, run=f"r{i // 25}") for i in range(250)]
    b = [event(i, run=f"r{i // 25}") for i in range(150, 400)]
    bad_a = {40: b"{broken", 120: orjson.dumps(event(9000, seq=-1))}
    bad_b = {7: b"[1, 2]"}
    lines_a = [orjson.dumps(e) for e in a]
    lines_b = [orjson.dumps(e) for e in b]
    for at, line in sorted(bad_a.items()):
        lines_a.insert(at, line)
    for at, line in sorted(bad_b.items()):
        lines_b.insert(at, line)
    pa_, pb = write_lines(root / "a.jsonl", lines_a), write_lines(root / "b.jsonl", lines_b)
    ids = {e["event_id"] for e in a + b}
    bad = {(str(pa_), f"line:{at + 1}") for at in bad_a} | {
        (str(pb), f"line:{at + 1}") for at in bad_b
    }
    return [str(pa_), str(pb)], ids, bad


def check_lake(lake: Path, ids: set[str], bad: set[tuple[str, str]]) -> None:
    ctx = JobContext.create(Settings(lake_root=str(lake)))
    stored = ctx.lake.read(catalog.BRONZE_EVENTS, columns=["event_id"])["event_id"].to_pylist()
    assert len(stored) == len(set(stored)) and set(stored) == ids
    rows = ctx.lake.read(catalog.BRONZE_QUARANTINE).to_pylist()
    assert sorted((r["source_uri"], r["source_position"]) for r in rows) == sorted(bad)


def env_for(lake: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("TRACELAKE_")},
        "TRACELAKE_LAKE_ROOT": str(lake),
        "TRACELAKE_INGEST__BATCH_ROWS": "100",  # several commits per run
    }


CHAOS = pytest.mark.skipif(not os.environ.get("RUN_CHAOS"), reason="make chaos")
# One point per writer in `make test`; the others in `make chaos`.
POINTS = [
    pytest.param("after:events", 2, id="after-events-commit-2"),
    pytest.param("before:quarantine", 1, id="before-quarantine-commit"),
    pytest.param("after:job_runs", 1, id="after-job-runs-row"),
    pytest.param("before:events", 2, id="before-events-commit-2", marks=CHAOS),
    pytest.param("after:quarantine", 1, id="after-quarantine-commit", marks=CHAOS),
]


@pytest.mark.parametrize(("point", "nth"), POINTS)
def test_kill_at_a_writer_point_then_rerun_is_exact(tmp_path, point, nth):
    paths, ids, bad = make_input(tmp_path / "in")
    lake = tmp_path / "lake"
    env = env_for(lake)
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, point, str(nth), *paths], env=env, capture_output=True
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    again = subprocess.run(
        [str(Path(sys.executable).with_name("tracelake")), "ingest", *paths],
        env=env,
        capture_output=True,
    )
    assert again.returncode == 0, again.stderr.decode()[-2000:]
    check_lake(lake, ids, bad)


@CHAOS
def test_random_kills_then_rerun_is_exact(tmp_path):
    paths, ids, bad = make_input(tmp_path / "in")
    lake = tmp_path / "lake"
    env = env_for(lake)
    tracelake = str(Path(sys.executable).with_name("tracelake"))
    rng = random.Random(int(os.environ.get("CHAOS_SEED", "0")))
    for _ in range(int(os.environ.get("CHAOS_ROUNDS", "20"))):
        proc = subprocess.Popen([tracelake, "ingest", *paths], env=env)
        time.sleep(rng.uniform(0.5, 6.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done = subprocess.run([tracelake, "ingest", *paths], env=env, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    check_lake(lake, ids, bad)
