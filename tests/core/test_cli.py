"""The `tracelake` command as a user runs it: real process, real exit codes, readable errors."""

from __future__ import annotations

import json

import pytest
from cli_helpers import TRACELAKE, assert_one_line_error, run_cli  # noqa: F401
from eventlines import event, write_lines
from s3server import free_ports


def test_ingest_prints_counts_and_where_to_look(tmp_path):
    path = write_lines(tmp_path / "a.jsonl", [event(0), event(1), b"{broken"])
    proc = run_cli("ingest", str(path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "read 3, stored 2, duplicates 0, quarantined 1" in proc.stdout
    assert "bronze_quarantine" in proc.stdout
    again = run_cli("ingest", "--json", str(path), cwd=tmp_path)
    result = json.loads(again.stdout)
    assert (result["rows_out"], result["rows_duplicate"], result["status"]) == (0, 3, "noop")


def test_status_json_reports_tables_and_job_runs(tmp_path):
    path = write_lines(tmp_path / "a.jsonl", [event(0), event(1)])
    run_cli("ingest", str(path), cwd=tmp_path)
    proc = run_cli("status", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    tables = {t["table"]: t for t in report["tables"]}
    assert tables["bronze.events"]["rows"] == 2
    assert tables["bronze.events"]["version"] == 1
    assert report["job_runs"][0]["job"] == "ingest"
    human = run_cli("status", cwd=tmp_path)
    assert "bronze.events" in human.stdout and "ingest" in human.stdout


def test_missing_path_is_one_line_and_non_zero(tmp_path):
    proc = run_cli("ingest", str(tmp_path / "missing.jsonl"), cwd=tmp_path)
    assert_one_line_error(proc, "missing.jsonl", "does not exist")


def test_unreachable_s3_endpoint_is_one_line_and_non_zero(tmp_path):
    (port,) = free_ports(1)  # nothing listens there
    env = {
        "TRACELAKE_LAKE_ROOT": "s3://bucket/lake",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s",
    }
    path = write_lines(tmp_path / "a.jsonl", [event(0)])
    proc = run_cli("ingest", str(path), cwd=tmp_path, env=env)
    assert_one_line_error(proc, "cannot reach the object store", "s3://bucket/lake")


@pytest.mark.s3
def test_bad_credentials_are_one_line_and_non_zero(tmp_path, s3_server):
    bucket = s3_server.create_bucket("creds-test")
    env = {
        **s3_server.env(),
        "AWS_SECRET_ACCESS_KEY": "wrong-secret",
        "TRACELAKE_LAKE_ROOT": f"s3://{bucket}/lake",
    }
    path = write_lines(tmp_path / "a.jsonl", [event(0)])
    proc = run_cli("ingest", str(path), cwd=tmp_path, env=env)
    assert_one_line_error(proc, "refused the credentials")
    assert "wrong-secret" not in proc.stderr


def test_invalid_settings_are_reported_with_their_source(tmp_path):
    (tmp_path / "tracelake.toml").write_text('lake_root = "./lk"\n[ingest]\nbatch_rows = 0\n')
    proc = run_cli("status", cwd=tmp_path)
    assert_one_line_error(proc, "ingest.batch_rows", "tracelake.toml")


def test_settings_file_and_environment_precedence(tmp_path):
    (tmp_path / "tracelake.toml").write_text('lake_root = "./from-file"\n')
    path = write_lines(tmp_path / "a.jsonl", [event(0)])
    run_cli("ingest", str(path), cwd=tmp_path)
    assert (tmp_path / "from-file" / "bronze" / "events" / "_delta_log").is_dir()
    run_cli("ingest", str(path), cwd=tmp_path, env={"TRACELAKE_LAKE_ROOT": str(tmp_path / "env")})
    assert (tmp_path / "env" / "bronze" / "events" / "_delta_log").is_dir()
