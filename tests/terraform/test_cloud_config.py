"""`tracelake cloud-config --from-terraform outputs.json`: Terraform outputs -> tracelake.toml."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from terraform.tfconfig import ENVIRONMENTS, MODULES, load_module
from typer.testing import CliRunner

from tracelake.jobs.cli import app
from tracelake.jobs.cloud_config import load_outputs, render_env, render_toml
from tracelake.jobs.settings import Settings

SAMPLE = Path(__file__).parent / "fixtures" / "outputs.json"
runner = CliRunner()


def test_sample_has_the_outputs_the_environments_declare():
    """The sample stands for a real `terraform output -json`: same output names, and a
    tracelake_settings object with the keys the stack module builds."""
    sample = json.loads(SAMPLE.read_text())
    for env in ("dev", "prod"):
        assert set(sample) == set(load_module(ENVIRONMENTS / env).outputs), env
    stack_settings = load_module(MODULES / "stack").locals["tracelake_settings"]
    assert set(sample["tracelake_settings"]["value"]) == set(stack_settings)
    stack_env = load_module(MODULES / "stack").locals["airflow_environment"]
    assert set(sample["airflow_environment"]["value"]) == set(stack_env)


def test_cloud_config_writes_a_tracelake_toml_that_settings_load(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("TRACELAKE_")]:
        monkeypatch.delenv(key)
    result = runner.invoke(app, ["cloud-config", "--from-terraform", str(SAMPLE)])
    assert result.exit_code == 0, result.output
    assert "wrote tracelake.toml" in result.output

    settings = Settings()  # reads ./tracelake.toml like every tracelake command
    assert settings.lake_root == "s3://acme-tracelake-dev-lake"
    assert settings.export_root == "s3://acme-tracelake-dev-exports/datasets"
    assert settings.landing == "s3://acme-tracelake-dev-landing/incoming"
    assert settings.s3.region == "eu-west-1"
    assert settings.spark.conf == {"spark.hadoop.fs.s3a.endpoint.region": "eu-west-1"}
    assert settings.s3.access_key_id is None, "no credentials ever come from Terraform"


def test_airflow_environment_file_configures_cluster_mode(tmp_path, monkeypatch):
    env_file = tmp_path / "airflow.env"
    result = runner.invoke(
        app,
        [
            "cloud-config",
            "--from-terraform",
            str(SAMPLE),
            "--out",
            str(tmp_path / "t.toml"),
            "--airflow-env",
            str(env_file),
        ],
    )
    assert result.exit_code == 0, result.output
    # Source the file in a shell and read the variables back, as the MWAA startup script does.
    dump = subprocess.run(
        ["sh", "-c", f". {shlex.quote(str(env_file))} && env"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    ).stdout
    exported = dict(
        line.split("=", 1) for line in dump.splitlines() if line.startswith("TRACELAKE_")
    )
    for key in [k for k in os.environ if k.startswith("TRACELAKE_")]:
        monkeypatch.delenv(key)
    for key, value in exported.items():
        monkeypatch.setenv(key, value)
    orchestration = Settings().airflow
    assert orchestration.spark_mode == "cluster"
    assert orchestration.cluster.application.endswith("/spark/submit.py")
    assert orchestration.cluster.py_files == [
        "s3://airflow-acme-tracelake-dev-artifacts/spark/tracelake-0.1.0-py3-none-any.whl"
    ]
    assert "delta-spark_4.1_2.13-4.4.1.jar" in orchestration.cluster.conf["spark.jars"]
    assert Settings().lake_root == "s3://acme-tracelake-dev-lake"


def test_toml_rendering_round_trips():
    settings = {
        "lake_root": "s3://b",
        "landing": 'with "quotes" and \\',
        "s3": {"region": "eu-west-1", "allow_http": False},
        "spark": {"conf": {"spark.a.b": "1"}, "master": "local[2]"},
    }
    assert tomllib.loads(render_toml(settings)) == settings
    assert render_env({"TRACELAKE_X": "it's"}).endswith("export TRACELAKE_X='it'\"'\"'s'\n")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{not json", "not JSON"),
        ('{"buckets": {"value": {}}}', "no output 'tracelake_settings'"),
        (
            '{"tracelake_settings": {"value": {"lake_root": "s3://b", "lake_rot": "x"}},'
            ' "airflow_environment": {"value": {}}}',
            "lake_rot: Extra inputs are not permitted",
        ),
        (
            '{"tracelake_settings": {"value": {"lake_root": "s3://b"}},'
            ' "airflow_environment": {"value": {"PATH": "/bin"}}}',
            "not TRACELAKE_* variable names: PATH",
        ),
        (
            '{"tracelake_settings": {"value": {"lake_root": "s3://b"}},'
            ' "airflow_environment": {"value": {"TRACELAKE_AIRFLOW__SPARK_MOD": "cluster"}}}',
            "no tracelake setting is called TRACELAKE_AIRFLOW__SPARK_MOD",
        ),
    ],
)
def test_bad_outputs_fail_with_one_line(tmp_path, content, message):
    outputs = tmp_path / "outputs.json"
    if content is not None:
        outputs.write_text(content)
    result = runner.invoke(
        app, ["cloud-config", "--from-terraform", str(outputs), "--out", str(tmp_path / "t.toml")]
    )
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "t.toml").exists()


def test_existing_file_is_kept_unless_forced(tmp_path):
    target = tmp_path / "tracelake.toml"
    target.write_text('lake_root = "./mine"\n')
    args = ["cloud-config", "--from-terraform", str(SAMPLE), "--out", str(target)]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2 and "--force" in refused.output
    assert target.read_text() == 'lake_root = "./mine"\n'
    assert runner.invoke(app, [*args, "--force"]).exit_code == 0
    assert load_outputs(SAMPLE).settings["lake_root"] in target.read_text()


def test_cli_entry_point_exits_non_zero_without_traceback(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tracelake.jobs.cli",
            "cloud-config",
            "--from-terraform",
            str(tmp_path / "missing.json"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "no such file" in proc.stderr and "Traceback" not in proc.stderr
