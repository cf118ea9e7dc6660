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
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"  # loopback unless asked otherwise
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "False"
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


def test_stop_group_ends_the_leader_and_its_children(tmp_path):
    """What Ctrl-C does: the group gets SIGTERM, and SIGKILL if it does not stop in time."""
    import subprocess

    script = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"  # a component that ignores SIGTERM
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    child = int(proc.stdout.readline())
    airflow_local.stop_group(proc, grace_s=0.5)
    assert proc.poll() is not None
    assert _gone(lambda: os.killpg(proc.pid, 0)), "a process of the group is left"
    assert _gone(lambda: os.kill(child, 0)), "the child is left"


def _gone(probe, attempts: int = 100) -> bool:
    """Whether `probe` raises ProcessLookupError within a while (the orphaned child is reaped
    by init shortly after it dies)."""
    import time

    for _ in range(attempts):
        try:
            probe()
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_tracelake_airflow_starts_a_working_airflow_with_the_dags(tmp_path):
    """The command a user types: Airflow answers, the login works, both DAGs are parsed."""
    import contextlib
    import json
    import shutil
    import signal
    import subprocess
    import time
    import urllib.request

    import psutil
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
    output, stopped = "", False
    try:
        password = None
        deadline = time.monotonic() + 480
        while password is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "airflow exited before it was up"
            if line.startswith("login: user admin, password "):
                password = line.rsplit(" ", 1)[1].strip()
        assert password, "no login line within 480 s"

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
        paused = {d["dag_id"]: d["is_paused"] for d in json.loads(response_body(base, token))}
        assert not paused.get("tracelake_ingest") and not paused.get("tracelake_build"), paused
    finally:
        # Airflow runs in a session of its own: note its processes now, so that none outlives
        # the test even when the command fails to stop them.
        airflow = psutil.Process(proc.pid).children(recursive=True)
        # What Ctrl-C in the terminal does: SIGINT to the foreground process (the command).
        proc.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            output, _ = proc.communicate(timeout=60)
        stopped = proc.poll() is not None
        for child in airflow:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert stopped, "tracelake airflow did not stop on Ctrl-C"
    assert "Airflow stopped." in output and "Traceback" not in output.split("stopping")[-1]


def response_body(base: str, token: str) -> str:
    import json
    import urllib.request

    listing = urllib.request.Request(
        f"{base}/api/v2/dags", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(listing, timeout=30) as response:
        return json.dumps(json.loads(response.read())["dags"])
