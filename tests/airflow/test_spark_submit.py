"""The cluster-mode spark-submit command line and the submit entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tracelake.jobs.errors import ConfigError
from tracelake.jobs.orchestration.config import (
    HADOOP_VERSION,
    SCALA_BINARY_VERSION,
    ClusterSettings,
    OrchestrationSettings,
    load_orchestration,
)
from tracelake.jobs.orchestration.spark_submit import build_submission, result_uri
from tracelake.jobs.settings import S3Settings, Settings
from tracelake.jobs.submit import _parser

pytestmark = pytest.mark.airflow

WHEEL = "s3://artifacts/tracelake-0.1.0-py3-none-any.whl"
APP = "s3://artifacts/submit.py"
SECRET = "very-secret-key-do-not-log"
# SparkSubmitOperator's parameters (apache-airflow-providers-apache-spark), besides task_id.
OPERATOR_PARAMS = {
    "application",
    "conf",
    "conn_id",
    "files",
    "py_files",
    "archives",
    "driver_class_path",
    "jars",
    "java_class",
    "packages",
    "exclude_packages",
    "repositories",
    "total_executor_cores",
    "executor_cores",
    "executor_memory",
    "driver_memory",
    "keytab",
    "principal",
    "proxy_user",
    "name",
    "num_executors",
    "status_poll_interval",
    "application_args",
    "env_vars",
    "verbose",
    "spark_binary",
    "properties_file",
    "yarn_queue",
    "deploy_mode",
    "use_krb5ccache",
}


def s3_lake() -> Settings:
    return Settings(
        lake_root="s3://lake-bucket/lake",
        landing="s3://lake-bucket/landing",
        s3=S3Settings(
            endpoint_url="http://seaweed:8333",
            region="eu-west-1",
            access_key_id="AKIA-TEST",
            secret_access_key=SECRET,
        ),
        spark={"master": "local[*]", "conf": {"spark.sql.shuffle.partitions": "64"}},
    )


def conf_of(argv: list[str]) -> dict[str, str]:
    return dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "--conf")


def opt(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def submission(settings: Settings, **cluster):
    cfg = ClusterSettings(py_files=[WHEEL], master="yarn", **cluster)
    uri = result_uri(
        cfg, settings, "project_runs", "tracelake_build/manual__2026-01-01T00:00:00+00:00"
    )
    return build_submission(
        "project_runs",
        cluster=cfg,
        settings=settings,
        application=APP,
        result_uri=uri,
        params={"full": False},
    )


def test_cluster_command_line_for_an_s3_lake():
    sub = submission(s3_lake())
    argv = sub.argv()
    assert argv[0] == "spark-submit"
    assert opt(argv, "--master") == "yarn" and opt(argv, "--deploy-mode") == "cluster"
    assert opt(argv, "--py-files") == WHEEL
    assert opt(argv, "--packages").split(",") == [
        f"io.delta:delta-spark_{SCALA_BINARY_VERSION}:4.4.1",
        f"org.apache.hadoop:hadoop-aws:{HADOOP_VERSION}",
    ]
    conf = conf_of(argv)
    assert conf["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert conf["spark.sql.catalog.spark_catalog"] == (
        "org.apache.spark.sql.delta.catalog.DeltaCatalog"
    )
    assert conf["spark.hadoop.fs.s3.impl"] == "org.apache.hadoop.fs.s3a.S3AFileSystem"
    assert conf["spark.hadoop.fs.s3a.endpoint"] == "http://seaweed:8333"
    assert conf["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "false"
    assert conf["spark.hadoop.fs.s3a.endpoint.region"] == "eu-west-1"
    assert conf["spark.hadoop.fs.s3a.aws.credentials.provider"].endswith(
        "DefaultCredentialsProvider"
    )
    assert conf["spark.sql.shuffle.partitions"] == "64"  # the project's own Spark confs
    # The application comes after every option, then the job and its arguments.
    app_at = argv.index(APP)
    assert all(not a.startswith("--") for a in argv[app_at + 1 : app_at + 2])
    args = _parser().parse_args(argv[app_at + 1 :])
    assert args.job == "project_runs"
    assert json.loads(args.params) == {"full": False}
    driver = json.loads(args.settings)
    assert driver["lake_root"] == "s3://lake-bucket/lake"
    assert driver["s3"]["endpoint_url"] == "http://seaweed:8333"
    assert "master" not in driver["spark"]
    assert args.result_uri.startswith("s3://lake-bucket/lake/_tracelake/job_results/project_runs/")
    assert ":" not in args.result_uri.removeprefix("s3://") and "+" not in args.result_uri


def test_secrets_never_reach_the_command_line():
    sub = submission(s3_lake())
    rendered = json.dumps([sub.argv(), sub.operator_kwargs()])
    assert SECRET not in rendered and "AKIA-TEST" not in rendered


def test_a_local_lake_needs_no_s3a():
    sub = submission(Settings(lake_root="/data/lake", landing="/data/landing"))
    argv = sub.argv()
    assert opt(argv, "--packages") == f"io.delta:delta-spark_{SCALA_BINARY_VERSION}:4.4.1"
    assert not [k for k in conf_of(argv) if "s3a" in k or k.startswith("spark.hadoop.fs.s3")]


def test_packed_env_and_overrides():
    sub = submission(
        Settings(lake_root="/data/lake"),
        python_env_archive="s3://artifacts/env.tar.gz",
        conf={"spark.sql.extensions": "com.example.Ext", "spark.executor.memory": "8g"},
        deploy_mode="client",
    )
    argv = sub.argv()
    assert opt(argv, "--archives") == "s3://artifacts/env.tar.gz#environment"
    conf = conf_of(argv)
    assert conf["spark.pyspark.python"] == "./environment/bin/python"
    assert conf["spark.sql.extensions"] == "com.example.Ext"  # the cluster's conf wins
    assert conf["spark.executor.memory"] == "8g"
    assert opt(argv, "--deploy-mode") == "client"


def test_operator_kwargs_say_the_same_as_the_command_line():
    sub = submission(s3_lake(), python_env_archive="s3://artifacts/env.tar.gz")
    kwargs = sub.operator_kwargs()
    assert set(kwargs) <= OPERATOR_PARAMS
    argv = sub.argv()
    assert kwargs["application"] == APP
    assert kwargs["application_args"] == argv[argv.index(APP) + 1 :]
    assert kwargs["conf"] == conf_of(argv)
    assert kwargs["packages"] == opt(argv, "--packages")
    assert kwargs["py_files"] == opt(argv, "--py-files")
    assert kwargs["archives"] == opt(argv, "--archives")
    assert kwargs["deploy_mode"] == "cluster" and kwargs["conn_id"] == "spark_default"
    assert kwargs["name"] == opt(argv, "--name") == "tracelake-project_runs"


def test_the_project_must_be_shipped():
    with pytest.raises(ConfigError, match="PY_FILES"):
        build_submission(
            "project_runs",
            cluster=ClusterSettings(),
            settings=Settings(),
            application=APP,
            result_uri="/tmp/r.json",
        )


def test_default_versions_match_the_pinned_pyspark():
    jars = Path(__import__("pyspark").__file__).parent / "jars"
    assert (jars / f"hadoop-client-api-{HADOOP_VERSION}.jar").exists()
    assert list(jars.glob(f"scala-library-{SCALA_BINARY_VERSION}.*.jar"))


def test_orchestration_settings_from_env_and_variable(monkeypatch):
    monkeypatch.setenv("TRACELAKE_AIRFLOW__SPARK_MODE", "cluster")
    monkeypatch.setenv("TRACELAKE_AIRFLOW__CLUSTER__PY_FILES", json.dumps([WHEEL]))
    monkeypatch.setenv("TRACELAKE_AIRFLOW__INGEST_SCHEDULE", "*/5 * * * *")
    cfg = load_orchestration({"cluster": {"conn_id": "spark_emr"}, "landing_settle_s": 0})
    assert cfg.spark_mode == "cluster" and cfg.ingest_schedule == "*/5 * * * *"
    assert cfg.cluster.py_files == [WHEEL] and cfg.cluster.conn_id == "spark_emr"
    assert cfg.landing_settle_s == 0
    with pytest.raises(ConfigError, match="spark_mode"):
        load_orchestration({"spark_mode": "yarn"})
    monkeypatch.delenv("TRACELAKE_AIRFLOW__RETRIES", raising=False)  # set by airflow_home
    assert OrchestrationSettings().retries >= 1


def test_cluster_mode_without_the_provider_says_what_to_install(airflow_home):
    from tracelake.jobs.orchestration.tasks import submit_to_cluster

    orch = load_orchestration({"spark_mode": "cluster", "cluster": {"py_files": [WHEEL]}})
    with pytest.raises(ConfigError, match="apache-airflow-providers-apache-spark"):
        submit_to_cluster("project_runs", run_key="r", params={}, orch=orch, settings=Settings())


def test_submit_entry_runs_a_job_and_writes_its_result(tmp_path, trace_writer):
    n = trace_writer(tmp_path / "in" / "a.jsonl", "run-a", datetime(2026, 3, 1, tzinfo=UTC), 2)
    result_path = tmp_path / "results" / "ingest.json"
    cmd = [
        sys.executable,
        "-m",
        "tracelake.jobs.submit",
        "ingest",
        "--settings",
        json.dumps({"lake_root": str(tmp_path / "lake")}),
        "--params",
        json.dumps({"paths": [str(tmp_path / "in")]}),
        "--result-uri",
        str(result_path),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(result_path.read_text())
    assert result["rows_out"] == n and "bronze.events" in result["versions_written"]

    bad = subprocess.run(
        [*cmd[:3], "no_such_job"], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1
    assert "unknown job 'no_such_job'" in bad.stderr
