"""`tracelake demo`, `build` and `sql` as a user runs them: one real process each."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tracelake.jobs.context import JobContext
from tracelake.jobs.lake import catalog
from tracelake.jobs.settings import Settings

pytestmark = pytest.mark.spark
TRACELAKE = str(Path(sys.executable).with_name("tracelake"))


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACELAKE_", "AWS_"))}
    env["COLUMNS"] = "200"
    return subprocess.run(
        [TRACELAKE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )


def test_demo_then_sql_in_every_format(tmp_path):
    demo = run_cli("demo", "--runs", "40", "--seed", "3", cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert "Runs by outcome" in demo.stdout and "silver.runs" in demo.stdout
    assert "a seed run and two verified variations" in demo.stdout
    assert demo.stdout.count("variation syn1-") == 2

    lake = JobContext.create(Settings(lake_root=str(tmp_path / "lake"))).lake
    runs = lake.read(catalog.SILVER_RUNS, columns=["run_id", "outcome"]).to_pylist()
    assert len(runs) == 40
    expected = {}
    for row in runs:
        expected[row["outcome"]] = expected.get(row["outcome"], 0) + 1

    query = "SELECT outcome, count(*) AS n FROM silver_runs GROUP BY outcome"
    as_json = run_cli("sql", query, "--format", "json", cwd=tmp_path)
    assert as_json.returncode == 0, as_json.stderr
    got = {r["outcome"]: r["n"] for r in map(json.loads, as_json.stdout.splitlines())}
    assert got == expected

    as_csv = run_cli("sql", query, "--format", "csv", cwd=tmp_path)
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert {r["outcome"]: int(r["n"]) for r in rows} == expected

    again = run_cli("build", cwd=tmp_path)
    assert again.returncode == 0 and "noop" in again.stdout

    bad = run_cli("sql", "SELECT no_such_column FROM silver_runs", cwd=tmp_path)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr and "no_such_column" in bad.stderr
    assert "at org.apache" not in bad.stderr
