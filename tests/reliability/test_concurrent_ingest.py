"""Concurrent first runs on an empty lake with overlapping good and bad inputs: every event and
every bad record is stored exactly once, every run succeeds and records its ops.job_runs row.
Expected ids are computed from the input here, independently of ingest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from eventlines import event, write_lines

from tracelake.jobs.context import JobContext
from tracelake.jobs.lake import catalog
from tracelake.jobs.settings import Settings

TRACELAKE = str(Path(sys.executable).with_name("tracelake"))
WRITERS = 8


@pytest.mark.skipif(not os.environ.get("RUN_CHAOS"), reason="make chaos (~2 min)")
def test_eight_first_runs_on_an_empty_lake_store_events_and_quarantine_once(tmp_path):
    bad = [b"{broken json %d" % i for i in range(4)] + [
        orjson.dumps(event(900 + i, seq=f"three-{i}")) for i in range(4)
    ]
    shared = write_lines(tmp_path / "in" / "shared.jsonl", [event(i) for i in range(50)] + bad)
    own = [
        write_lines(tmp_path / "in" / f"own{w}.jsonl", [event(i, run=f"w{w}") for i in range(10)])
        for w in range(WRITERS)
    ]
    expected_ids = {f"run-1-e{i}" for i in range(50)} | {
        f"w{w}-e{i}" for w in range(WRITERS) for i in range(10)
    }
    lake = tmp_path / "lake"
    env = {**os.environ, "TRACELAKE_LAKE_ROOT": str(lake)}
    procs = [
        subprocess.Popen(
            [TRACELAKE, "ingest", str(shared), str(own[w])],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for w in range(WRITERS)
    ]
    errors = []
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        if proc.returncode != 0:
            errors.append(err.decode()[-1000:])
    assert not errors, errors

    ctx = JobContext.create(Settings(lake_root=str(lake)))
    ids = ctx.lake.read(catalog.BRONZE_EVENTS, columns=["event_id"])["event_id"].to_pylist()
    assert len(ids) == len(set(ids)) and set(ids) == expected_ids
    quarantine = ctx.lake.read(catalog.BRONZE_QUARANTINE).to_pylist()
    assert len(quarantine) == len(bad)
    assert sorted(q["source_position"] for q in quarantine) == sorted(
        f"line:{51 + i}" for i in range(len(bad))
    )
    runs = ctx.lake.read(catalog.OPS_JOB_RUNS).to_pylist()
    assert [r["status"] for r in runs] == ["succeeded"] * WRITERS
