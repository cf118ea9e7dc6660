"""The CLI on the job registry: listing jobs, running any job with typed parameters, the landing
pickup, and `status` as a new user meets it (missing lake, failed runs)."""

from __future__ import annotations

import json

from cli_helpers import assert_one_line_error, run_cli
from eventlines import event, write_lines


def test_jobs_lists_builtin_and_discovered_jobs(tmp_path):
    proc = run_cli("jobs", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    jobs = {j["name"]: j for j in json.loads(proc.stdout)}
    assert {"simulate", "ingest", "landing", "collect", "build", "project_runs"} <= set(jobs)
    assert jobs["project_runs"]["kind"] == "derived"
    assert jobs["project_runs"]["reads"] == ["silver.events"]
    assert jobs["project_runs"]["writes"] == ["silver.runs"]
    assert jobs["ingest"]["needs_spark"] is False


def test_run_validates_parameters_before_doing_anything(tmp_path):
    unknown = run_cli("run", "nope", cwd=tmp_path)
    assert_one_line_error(unknown, "unknown job 'nope'", "project_runs")
    bad = run_cli("run", "simulate", "-p", f"out={tmp_path / 'x'}", "-p", "runs=many", cwd=tmp_path)
    assert_one_line_error(bad, "job simulate", "runs")
    extra = run_cli("run", "ingest", "-p", "path=a.jsonl", cwd=tmp_path)
    assert_one_line_error(extra, "job ingest", "path")
    assert not (tmp_path / "x").exists() and not (tmp_path / "lake").exists()

    ok = run_cli(
        "run", "simulate", "-p", f"out={tmp_path / 'sim'}", "-p", "runs=3", "--json", cwd=tmp_path
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["status"] == "succeeded"
    assert list((tmp_path / "sim").glob("*.jsonl"))


def test_landing_ingests_what_landed_once(tmp_path):
    landing = tmp_path / "landing"
    write_lines(landing / "a.jsonl", [event(0), event(1)])
    env = {"TRACELAKE_LANDING": str(landing)}
    first = run_cli("landing", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert "1 new file(s)" in first.stdout and "stored 2" in first.stdout
    again = run_cli("landing", cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    assert "landing: noop" in again.stdout and "1 already ingested" in again.stdout


def test_status_warns_about_a_missing_lake_and_shows_failures(tmp_path):
    fresh = run_cli("--lake", str(tmp_path / "nowhere"), "status", cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stderr
    assert "warning:" in fresh.stderr and "does not exist" in fresh.stderr
    assert "ops.landing_files" in fresh.stdout  # every catalog table is listed

    (tmp_path / "afile").write_text("x")
    failed = run_cli("simulate", "--out", str(tmp_path / "afile"), cwd=tmp_path)
    assert failed.returncode != 0
    status = run_cli("status", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert "failed simulate" in status.stdout and "is a file; give a directory" in status.stdout
    report = json.loads(run_cli("status", "--json", cwd=tmp_path).stdout)
    assert report["failed_runs"][0]["job"] == "simulate"


def test_an_s3_endpoint_that_does_not_resolve_is_one_line(tmp_path):
    env = {
        "TRACELAKE_LAKE_ROOT": "s3://bucket/lake",
        "AWS_ENDPOINT_URL": "http://no-such-host.invalid:9000",
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s",
    }
    path = write_lines(tmp_path / "a.jsonl", [event(0)])
    proc = run_cli("ingest", str(path), cwd=tmp_path, env=env)
    assert_one_line_error(proc, "cannot reach the object store", "AWS_ENDPOINT_URL")


def test_missing_s3_credentials_are_one_line_without_metadata_service_warnings(tmp_path):
    # No keys and no endpoint: the AWS SDK falls back to the EC2 metadata service (refused
    # here) and used to print three WARN lines about it above the error.
    env = {"TRACELAKE_LAKE_ROOT": "s3://bucket/lake"}
    path = write_lines(tmp_path / "a.jsonl", [event(0)])
    proc = run_cli("ingest", str(path), cwd=tmp_path, env=env)
    assert "IMDS" not in proc.stderr and "WARN" not in proc.stderr
    assert_one_line_error(proc)
