"""`make airflow` / `tracelake airflow`: the environment local Airflow runs with."""

from __future__ import annotations

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
    assert env["PATH"] == "/usr/bin"


def test_login_line_reads_the_generated_password(tmp_path):
    assert "password in" in airflow_local.login_line(tmp_path)
    (tmp_path / ".airflow").mkdir()
    airflow_local.passwords_file(tmp_path).write_text('{"admin": "s3cret"}')
    assert airflow_local.login_line(tmp_path) == "login: user admin, password s3cret"


def test_refuses_a_directory_without_dags(tmp_path, capsys):
    assert airflow_local.main(["--project-dir", str(tmp_path)]) == 2
    assert "no dags/ folder" in capsys.readouterr().err
