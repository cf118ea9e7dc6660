"""`tracelake sql` on the embedded engine (DuckDB over the Delta file lists): namespaced names and
aliases, column comments, several statements, a file, the REPL, CSV of nested columns, user text
never read as markup, and the read-only guard (each refusal), all through the real command."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eventlines import event, write_lines

from tracelake.jobs import sql
from tracelake.jobs.context import JobContext
from tracelake.jobs.ingest import job as ingest_job
from tracelake.jobs.settings import Settings

TRACELAKE = str(Path(sys.executable).with_name("tracelake"))


def run_cli(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACELAKE_", "AWS_"))}
    env["COLUMNS"] = "250"
    return subprocess.run(
        [TRACELAKE, *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def lake_dir(tmp_path: Path) -> Path:
    """A lake (./lake under tmp_path, the CLI's default) with 3 events, one of them with
    user text that looks like rich markup and an emoji code."""
    events = [
        event(0, run="r1", event_type="run_started", goal="say a:x:b [bold]hi[/bold]"),
        event(1, run="r1", event_type="tool_call", component_name="Read"),
        event(2, run="r2", event_type="tool_call", component_name="Read"),
    ]
    path = write_lines(tmp_path / "in" / "a.jsonl", events)
    ctx = JobContext.create(Settings(lake_root=str(tmp_path / "lake")))
    assert ingest_job.run(ctx, [str(path)]).rows_out == 3
    return tmp_path


def _ctx(lake_dir: Path) -> JobContext:
    return JobContext.create(Settings(lake_root=str(lake_dir / "lake")))


def test_namespaced_names_and_aliases_give_the_same_rows(lake_dir):
    ctx = _ctx(lake_dir)
    a = sql.query(ctx, "SELECT run_id, count(*) AS n FROM bronze.events GROUP BY 1 ORDER BY 1")
    b = sql.query(ctx, "SELECT run_id, count(*) AS n FROM bronze_events GROUP BY 1 ORDER BY 1")
    assert a.to_pylist() == b.to_pylist() == [{"run_id": "r1", "n": 2}, {"run_id": "r2", "n": 1}]
    # tables not created yet are empty, under both names
    assert sql.query(ctx, "SELECT count(*) AS n FROM silver.runs").to_pylist() == [{"n": 0}]
    jobs = sql.query(ctx, "SELECT job FROM ops.job_runs").to_pylist()
    assert jobs == [{"job": "ingest"}]


def test_column_comments_come_from_the_schema_docs(lake_dir):
    rows = sql.query(
        _ctx(lake_dir),
        "SELECT column_name, comment FROM duckdb_columns() "
        "WHERE schema_name = 'bronze' AND table_name = 'events' AND column_name = 'run_id'",
    ).to_pylist()
    assert rows == [{"column_name": "run_id", "comment": "The run this step belongs to."}]


def test_several_statements_and_a_file(lake_dir):
    script = lake_dir / "q.sql"
    script.write_text(
        "-- counts; then types\nSELECT count(*) AS n FROM bronze.events;\n"
        "SELECT DISTINCT event_type FROM bronze_events WHERE event_type = 'tool_call';\n"
    )
    proc = run_cli("sql", "-f", str(script), "--format", "json", cwd=lake_dir)
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(x) for x in proc.stdout.splitlines()] == [
        {"n": 3},
        {"event_type": "tool_call"},
    ]


def test_csv_of_nested_columns_is_json_text(lake_dir):
    proc = run_cli(
        "sql",
        "SELECT run_id, list(seq ORDER BY seq) AS seqs, {'a': 1, 'b': [run_id]} AS obj "
        "FROM bronze.events GROUP BY run_id ORDER BY run_id",
        "--format",
        "csv",
        cwd=lake_dir,
    )
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert json.loads(rows[0]["seqs"]) == [0, 1]
    assert json.loads(rows[1]["obj"]) == {"a": 1, "b": ["r2"]}


def test_user_text_is_never_markup(lake_dir):
    proc = run_cli("sql", "SELECT goal FROM bronze.events WHERE goal IS NOT NULL", cwd=lake_dir)
    assert proc.returncode == 0, proc.stderr
    assert "say a:x:b [bold]hi[/bold]" in proc.stdout
    assert "❌" not in proc.stdout


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("SELECT * FROM read_csv('/etc/passwd')", "read-only"),
        ("COPY (SELECT 1) TO 'out.csv'", "read-only: COPY"),
        ("CREATE TABLE t AS SELECT 1", "read-only: CREATE"),
        ("INSERT INTO bronze.events SELECT * FROM bronze.events", "read-only: INSERT"),
        ("ATTACH 'other.db'", "read-only: ATTACH"),
        ("SET enable_external_access = true", "read-only: SET"),
        ("INSTALL httpfs", "read-only"),
        ("SELECT nope FROM bronze.events", "SQL error"),
        ("SELECT * FROM no_such_table", "Tables: bronze.event_keys, bronze.events"),
        ("SELEC 1", "SQL error"),
    ],
)
def test_refusals_and_errors_are_one_line(lake_dir, statement, expected):
    proc = run_cli("sql", statement, cwd=lake_dir)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert lines[0].startswith("error:") and expected in " ".join(lines), proc.stderr
    assert not (lake_dir / "out.csv").exists()


def test_allow_writes_lifts_the_guard_for_operators(lake_dir):
    ctx = _ctx(lake_dir)
    out = lake_dir / "out.csv"
    sql.query(ctx, f"COPY (SELECT count(*) AS n FROM bronze.events) TO '{out}'", allow_unsafe=True)
    assert out.read_text().split() == ["n", "3"]


def test_repl_from_stdin_goes_on_after_an_error(lake_dir):
    proc = run_cli(
        "sql",
        "--format",
        "json",
        cwd=lake_dir,
        stdin="SELECT count(*) AS n\n FROM bronze.events;\nSELEC 1;\nSELECT 2 AS two;\n.quit\n",
    )
    assert [json.loads(x) for x in proc.stdout.splitlines()] == [{"n": 3}, {"two": 2}]
    assert "error:" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.returncode == 2  # piped input: a failed statement fails the run


def test_repl_on_a_terminal(lake_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACELAKE_", "AWS_"))}
    pid, fd = pty.fork()
    if pid == 0:  # child: the command on a pseudo-terminal
        os.chdir(lake_dir)
        os.execve(TRACELAKE, [TRACELAKE, "sql", "--format", "json"], env)
    output = b""

    def read_until(marker: bytes, timeout_s: float = 60) -> None:
        nonlocal output
        deadline = time.monotonic() + timeout_s
        while marker not in output and time.monotonic() < deadline:
            try:
                output += os.read(fd, 4096)
            except OSError:
                break

    read_until(b"tracelake> ")
    os.write(fd, b"SELECT count(*) AS n FROM silver.runs;\n")
    read_until(b'{"n": 0}')
    os.write(fd, b".quit\n")
    _, status = os.waitpid(pid, 0)
    assert b'{"n": 0}' in output
    assert os.waitstatus_to_exitcode(status) == 0


def test_statements_split_on_semicolons_outside_quotes_and_comments():
    from tracelake.jobs.query.statements import split_statements

    text = (
        "SELECT 'a;b' AS x; -- a comment; still a comment\n"
        'SELECT "c;d" FROM t /* ; */ ;;\n'
        "SELECT 'it''s;' AS y"
    )
    assert split_statements(text) == [
        "SELECT 'a;b' AS x",
        'SELECT "c;d" FROM t',
        "SELECT 'it''s;' AS y",
    ]
    assert split_statements(" ; -- nothing\n") == []
