"""Orchestration settings: how the DAGs are scheduled and how their Spark tasks run.

They are the `airflow` section of the one settings tree (jobs/settings.py), so they come from
the same places as every other setting, plus one:
  - `[airflow]` in tracelake.toml, and the environment of the Airflow components,
    `TRACELAKE_AIRFLOW__*` (nested with `__`, e.g. `TRACELAKE_AIRFLOW__SPARK_MODE=cluster`,
    `TRACELAKE_AIRFLOW__CLUSTER__CONN_ID=spark_emr`);
  - at task run time only, the Airflow Variable `tracelake_airflow` (a JSON object with the same
    keys), which overrides the rest.
Values that shape the DAG itself (schedules, retries, timeouts, deadlines) are read while the DAG
file is parsed, so they come from the environment only: reading a Variable at parse time costs a
metadata-database round trip on every parse.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ConfigError

# The delta-spark release built for the pyspark this project pins (delta-spark 4.4.1 requires
# pyspark >=4.0.1,<=4.2.0), and the Hadoop version inside that pyspark (hadoop-client-api-3.5.0):
# hadoop-aws must match the cluster's Hadoop exactly.
DELTA_VERSION = "4.4.1"
SCALA_BINARY_VERSION = "2.13"
HADOOP_VERSION = "3.5.0"


class SparkMode(StrEnum):
    local = "local"  # the task runs the job in a local Spark session, in the worker process
    cluster = "cluster"  # the task submits the job with spark-submit (SparkSubmitHook)


class ClusterSettings(BaseModel):
    """How cluster mode submits a job. Secrets never go here (see docs/airflow.md)."""

    model_config = ConfigDict(extra="forbid")

    conn_id: str = Field(
        default="spark_default", description="Airflow Spark connection: master URL, queue, binary."
    )
    master: str | None = Field(
        default=None,
        description="Only for the printed command line; Airflow takes it from conn_id.",
    )
    deploy_mode: Literal["client", "cluster"] = Field(
        default="cluster", description="spark-submit --deploy-mode."
    )
    application: str | None = Field(
        default=None,
        description="URI of the entry file tracelake/jobs/submit.py as the cluster sees it "
        "(s3://..., local:///...). Default: the file of the installed package (client mode).",
    )
    py_files: list[str] = Field(
        default_factory=list, description="The built project wheel, e.g. s3://art/tracelake.whl."
    )
    python_env_archive: str | None = Field(
        default=None,
        description="A packed virtualenv (venv-pack) with the project's dependencies; shipped "
        "with --archives and used as the driver's and executors' Python.",
    )
    delta_version: str = Field(default=DELTA_VERSION, description="delta-spark jar version.")
    scala_binary_version: str = Field(
        default=SCALA_BINARY_VERSION, description="Scala version of the cluster's Spark."
    )
    hadoop_aws_version: str | None = Field(
        default=HADOOP_VERSION, description="None when the cluster already has S3A (EMR, Dataproc)."
    )
    extra_packages: list[str] = Field(
        default_factory=list, description="More Maven coordinates for --packages."
    )
    conf: dict[str, str] = Field(default_factory=dict, description="Extra --conf pairs.")
    result_root: str | None = Field(
        default=None,
        description="Where the driver writes each job's result JSON for the Airflow task to "
        "read back. Default: <lake_root>/_tracelake/job_results.",
    )


class OrchestrationSettings(BaseModel):
    """The `airflow` section: DAG schedules, retries and deadlines, and how Spark tasks run."""

    model_config = ConfigDict(extra="forbid")

    spark_mode: SparkMode = Field(
        default=SparkMode.local,
        description="local: Spark jobs run in the worker; cluster: they go to spark-submit.",
    )
    ingest_schedule: str | None = Field(
        default="*/15 * * * *", description="Cron for tracelake_ingest; empty = on demand only."
    )
    build_safety_schedule: str = Field(
        default="0 3 * * *",
        description="tracelake_build also runs on this cron when no bronze update triggered it.",
    )
    timezone: str = Field(default="UTC", description="Time zone of the schedules.")
    owner: str = Field(default="tracelake", description="Owner shown on every task.")
    retries: int = Field(default=3, ge=0, description="Retries per task.")
    retry_delay_s: float = Field(default=60, gt=0, description="First retry delay.")
    retry_backoff: float = Field(default=2.0, ge=0, description="Delay multiplier per retry.")
    max_retry_delay_s: float = Field(default=30 * 60, gt=0, description="Longest retry delay.")
    execution_timeout_s: float = Field(
        default=2 * 3600, gt=0, description="A task running longer fails (and retries)."
    )
    deadline_s: float | None = Field(
        default=3 * 3600,
        description="Alert when a DAG run has not finished this long after it was queued; "
        "0 or empty disables the alert.",
    )
    landing_settle_s: float = Field(
        default=30, ge=0, description="Leave landed files younger than this for the next run."
    )
    landing_max_files: int = Field(default=10_000, ge=1, description="Files per ingest run.")
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)


def load_orchestration(overrides: dict[str, Any] | None = None) -> OrchestrationSettings:
    """The `airflow` settings section (toml, environment), then `overrides` (the
    `tracelake_airflow` Variable) on top."""
    from ..settings import load_settings

    base = load_settings().airflow
    try:
        if not overrides:
            return base
        merged = _deep_merge(base.model_dump(), overrides)
        return OrchestrationSettings.model_validate(merged)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(
            f"invalid orchestration settings (TRACELAKE_AIRFLOW__* or Variable tracelake_airflow): "
            f"{problems}"
        ) from None


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
