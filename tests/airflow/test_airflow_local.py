"""`make airflow` / `tracelake airflow`: the environment local Airflow runs with."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tracelake.jobs import airflow_local

pytestmark = pytest.mark.airflow

PROJECT = Path(__file__).resolve().parents[2]


def test_airflow_home_and_dags_live_in_the_project():
    env = airflow_local.airflow_env(PROJECT, port=8099, base={"PATH": "/usr/bin"})
    assert env["AIRFLOW_HOME"] == str(PROJECT / ".airflow")
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(PROJECT / "dags")
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__API__PORT"] == "8099"
    # standalone starts `airflow ...` subprocesses: the venv's bin must be on PATH
    assert env["PATH"].split(os.pathsep) == [str(Path(sys.executable).parent), "/usr/bin"]


def test_login_line_reads_the_generated_password(tmp_path):
    assert "password in" in airflow_local.login_line(tmp_path)
    (tmp_path / ".airflow").mkdir()
    airflow_local.passwords_file(tmp_path).write_text('{"admin": "s3cret"}')
    assert airflow_local.login_line(tmp_path) == "login: user admin, password s3cret"


def test_refuses_a_directory_without_dags(tmp_path, capsys):
    assert airflow_local.main(["--project-dir", str(tmp_path)]) == 2
    assert "no dags/ folder" in capsys.readouterr().err


def test_tracelake_airflow_starts_a_working_airflow_with_the_dags(tmp_path):
    """The command a user types: Airflow answers, the login works, both DAGs are parsed."""
    import contextlib
    import json
    import shutil
    import signal
    import subprocess
    import time
    import urllib.request

    from s3server import free_ports

    project = tmp_path / "project"
    shutil.copytree(PROJECT / "dags", project / "dags")
    (port,) = free_ports(1)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "TRACELAKE_"))}
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("tracelake")),
            "airflow",
            "--port",
            str(port),
            "--project-dir",
            str(project),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    base = f"http://localhost:{port}"
    try:
        password = None
        deadline = time.monotonic() + 240
        while password is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "airflow exited before it was up"
            if line.startswith("login: user admin, password "):
                password = line.rsplit(" ", 1)[1].strip()
        assert password, "no login line within 240 s"

        request = urllib.request.Request(
            f"{base}/auth/token",
            data=json.dumps({"username": "admin", "password": password}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            token = json.loads(response.read())["access_token"]
        dag_ids: set[str] = set()
        while (
            time.monotonic() < deadline and not {"tracelake_ingest", "tracelake_build"} <= dag_ids
        ):
            listing = urllib.request.Request(
                f"{base}/api/v2/dags", headers={"Authorization": f"Bearer {token}"}
            )
            with urllib.request.urlopen(listing, timeout=30) as response:
                dag_ids = {d["dag_id"] for d in json.loads(response.read())["dags"]}
            time.sleep(2)
        assert {"tracelake_ingest", "tracelake_build"} <= dag_ids
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=60)
        # Airflow's components live in the same process group: none may outlive the test.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
