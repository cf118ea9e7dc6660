"""Fixtures for the Airflow tests: a throwaway AIRFLOW_HOME with a migrated sqlite metadata DB,
and landed trace files.

Airflow reads its configuration when `airflow` is first imported, so the environment is set
here before anything imports it; test modules import airflow only inside tests and fixtures.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = PROJECT / "dags"


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("airflow_home")
    if "airflow" in sys.modules:
        from airflow.configuration import conf

        if conf.get("core", "dags_folder") != str(DAGS_FOLDER):
            pytest.fail(
                "airflow was imported before the airflow_home fixture configured it; "
                "import airflow only inside tests in tests/airflow"
            )
    patch = pytest.MonkeyPatch()
    for key, value in {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # A failing task must fail the test at once, not wait out retry delays in dag.test().
        "TRACELAKE_AIRFLOW__RETRIES": "0",
        # dag.test() in Airflow 3.3.2 crashes at the end of a successful run of a DAG with a
        # deadline alert (apache/airflow#73428, fix in PR #73430); the scheduler path is not
        # affected. The alert's presence is checked by the parse-time integrity tests.
        "TRACELAKE_AIRFLOW__DEADLINE_S": "0",
    }.items():
        patch.setenv(key, value)
    from airflow.utils import db

    db.initdb()
    yield home
    patch.undo()


def canonical_run(
    run_id: str, start: datetime, steps: int, source: str = "airflow-test"
) -> list[dict]:
    """One successful run as canonical events: start, tool call/result pairs, completion."""
    events = [
        {"event_type": "run_started", "goal": f"goal of {run_id}", "mode": "SIMULATION"},
    ]
    for i in range(steps):
        events.append(
            {
                "event_type": "tool_call",
                "component_name": "WebFetch",
                "component_kind": "tool",
                "action": f"fetch page {i}",
                "input": json.dumps({"url": f"https://example.org/{i}"}),
            }
        )
        events.append(
            {
                "event_type": "tool_result",
                "component_name": "WebFetch",
                "status": "ok",
                "output": json.dumps({"bytes": 100 + i}),
                "latency_ms": 12.5,
            }
        )
    events.append({"event_type": "run_completed", "status": "ok"})
    out = []
    for seq, event in enumerate(events):
        ts = (start + timedelta(seconds=seq)).isoformat().replace("+00:00", "Z")
        out.append(
            {
                "event_id": f"{run_id}-{seq}",
                "run_id": run_id,
                "seq": seq,
                "ts": ts,
                "source": source,
                **event,
            }
        )
    return out


def write_jsonl(path: Path, events: list[dict]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return len(events)


@pytest.fixture
def trace_writer():
    """write(path, run_id, start, steps) -> number of events written (canonical JSONL)."""

    def write(path: Path, run_id: str, start: datetime, steps: int) -> int:
        return write_jsonl(path, canonical_run(run_id, start, steps))

    return write


@pytest.fixture
def landed(tmp_path: Path) -> dict:
    """A landing folder with two trace files (three runs) and one corrupt file."""
    landing = tmp_path / "landing"
    t0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    first = canonical_run("run-a", t0, 2) + canonical_run("run-b", t0, 1)
    second = canonical_run("run-c", t0 + timedelta(hours=1), 3)
    write_jsonl(landing / "agent-1" / "traces-0001.jsonl", first)
    write_jsonl(landing / "traces-0002.jsonl", second)
    corrupt = landing / "broken.bin"
    corrupt.write_bytes(b"\x00\x01 this is not a trace \xff\xfe\n{half a record")
    return {
        "landing": landing,
        "lake": tmp_path / "lake",
        "events": len(first) + len(second),
        "runs": {"run-a", "run-b", "run-c"},
        "corrupt": corrupt,
    }
