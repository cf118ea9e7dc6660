"""Cluster mode on the Terraform deployment: the job submission as an EMR Serverless StartJobRun
request, built from the settings the stack's outputs give the Airflow workers."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from terraform.tfconfig import ROOT

from tracelake.jobs.cloud_config import load_outputs
from tracelake.jobs.errors import ConfigError
from tracelake.jobs.orchestration.emr_serverless import start_job_run_request
from tracelake.jobs.orchestration.spark_submit import build_submission, result_uri
from tracelake.jobs.settings import Settings

SAMPLE = Path(__file__).parent / "fixtures" / "outputs.json"
CHECKOV_PYTHON = ROOT / ".venv-checkov" / "bin" / "python"


@pytest.fixture
def build_request(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("TRACELAKE_")]:
        monkeypatch.delenv(key)
    config = load_outputs(SAMPLE)
    for key, value in config.airflow_environment.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TRACELAKE_S3__SECRET_ACCESS_KEY", "must-not-leak")
    settings, cluster = Settings(), Settings().airflow.cluster
    spark = json.loads(SAMPLE.read_text())["spark"]["value"]
    submission = build_submission(
        "project_runs",
        cluster=cluster,
        settings=settings,
        application=cluster.application,
        result_uri=result_uri(cluster, settings, "project_runs", "manual__1"),
    )

    def build(run_key: str = "manual__1") -> dict:
        return start_job_run_request(
            submission,
            application_id=spark["application_id"],
            execution_role_arn=spark["job_role_arn"],
            run_key=run_key,
            logs_uri=spark["logs_uri"],
            logs_kms_key_arn=spark["logs_kms_key_arn"],
        )

    return build


@pytest.fixture
def request_from_outputs(build_request):
    return build_request()


def test_request_runs_the_job_entry_point_with_delta_from_s3(request_from_outputs):
    request = request_from_outputs
    driver = request["jobDriver"]["sparkSubmit"]
    assert driver["entryPoint"] == "s3://airflow-acme-tracelake-dev-artifacts/spark/submit.py"
    assert driver["entryPointArguments"][0] == "project_runs"
    parameters = driver["sparkSubmitParameters"]
    assert "spark.jars=s3://airflow-acme-tracelake-dev-artifacts/spark/jars/delta-spark_4.1" in (
        parameters
    )
    assert "--conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension" in parameters
    assert "--packages" not in parameters, "the workers have no internet: no Maven resolution"
    assert "must-not-leak" not in json.dumps(request)
    logs = request["configurationOverrides"]["monitoringConfiguration"]
    assert logs["s3MonitoringConfiguration"]["logUri"].endswith("/ops/logs/spark/")


def test_retried_task_reuses_the_idempotency_token(build_request):
    first, retry, other_run = build_request("run_1"), build_request("run_1"), build_request("run_2")
    assert first["clientToken"] == retry["clientToken"], "a retry must not start a second run"
    assert first["clientToken"] != other_run["clientToken"]
    assert len(first["clientToken"]) <= 64


def test_missing_deployment_values_fail_with_where_to_find_them(request_from_outputs):
    from tracelake.jobs.orchestration.spark_submit import SparkSubmission

    submission = SparkSubmission(
        job="x",
        application="s3://a/submit.py",
        application_args=(),
        name="tracelake-x",
        deploy_mode="cluster",
        conn_id="c",
    )
    with pytest.raises(ConfigError, match="terraform output -json spark"):
        start_job_run_request(submission, application_id="", execution_role_arn="", run_key="r")


@pytest.mark.skipif(not CHECKOV_PYTHON.is_file(), reason="botocore comes with .venv-checkov")
def test_request_matches_the_emr_serverless_api_model(request_from_outputs):
    """botocore's own validator against the StartJobRun input shape of its service model
    (botocore is in the checkov virtualenv, not in the project's)."""
    script = (
        "import json, sys, botocore.session\n"
        "from botocore.validate import ParamValidator\n"
        "model = botocore.session.get_session().get_service_model('emr-serverless')\n"
        "shape = model.operation_model('StartJobRun').input_shape\n"
        "report = ParamValidator().validate(json.load(sys.stdin), shape)\n"
        "print(report.generate_report())\n"
        "sys.exit(1 if report.has_errors() else 0)\n"
    )
    proc = subprocess.run(
        [str(CHECKOV_PYTHON), "-c", script],
        input=json.dumps(request_from_outputs),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
