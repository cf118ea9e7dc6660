"""The cluster-mode `spark-submit` command line, built by pure functions.

One `SparkSubmission` is rendered two ways: `argv()` (the documented command line, for a shell,
an EMR step or a Kubernetes job) and `operator_kwargs()` (SparkSubmitOperator / SparkSubmitHook
keyword arguments; the hook takes the master from its Airflow connection).

What gets submitted:
  application   tracelake/jobs/submit.py (the entry file; it runs a named job's run(ctx))
  --py-files    the built project wheel (pure Python, importable from the zip)
  --archives    optionally a packed virtualenv with the dependencies, used as the Python
  --packages    io.delta:delta-spark_<scala>:<ver> (native Delta) and hadoop-aws (S3A)
  --conf        Delta's SQL extension and catalog; S3A endpoint, path style, credentials chain
  args          <job> --settings <non-secret Settings JSON> --result-uri <uri> --params <JSON>
Credentials are never put on the command line (it shows in `ps`, Airflow logs and the Spark
UI): S3A uses the default AWS credentials chain (IAM role, IRSA, instance profile, env).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..settings import Settings
from .config import ClusterSettings

DELTA_CONFS: dict[str, str] = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}
S3A_CREDENTIALS_PROVIDER = "software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider"
PYTHON_ENV_ALIAS = "environment"

# Settings fields that hold secrets (or are the cluster's to decide) and never leave the worker.
_DRIVER_SETTINGS_EXCLUDE = {
    "s3": {"access_key_id", "secret_access_key", "session_token"},
    "spark": {"master"},
}


@dataclass(frozen=True)
class SparkSubmission:
    job: str
    application: str
    application_args: tuple[str, ...]
    name: str
    deploy_mode: str
    conn_id: str
    master: str | None = None
    packages: tuple[str, ...] = ()
    py_files: tuple[str, ...] = ()
    archives: tuple[str, ...] = ()
    conf: Mapping[str, str] = field(default_factory=dict)
    spark_binary: str = "spark-submit"

    def argv(self) -> list[str]:
        """The spark-submit command line, one token per element (no shell quoting needed)."""
        argv = [self.spark_binary]
        if self.master:
            argv += ["--master", self.master]
        argv += ["--deploy-mode", self.deploy_mode, "--name", self.name]
        if self.packages:
            argv += ["--packages", ",".join(self.packages)]
        if self.py_files:
            argv += ["--py-files", ",".join(self.py_files)]
        if self.archives:
            argv += ["--archives", ",".join(self.archives)]
        for key, value in self.conf.items():
            argv += ["--conf", f"{key}={value}"]
        return [*argv, self.application, *self.application_args]

    def operator_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for SparkSubmitOperator (minus task_id) / SparkSubmitHook."""
        kwargs: dict[str, Any] = {
            "application": self.application,
            "application_args": list(self.application_args),
            "conn_id": self.conn_id,
            "name": self.name,
            "deploy_mode": self.deploy_mode,
            "conf": dict(self.conf),
            "spark_binary": self.spark_binary,
        }
        if self.packages:
            kwargs["packages"] = ",".join(self.packages)
        if self.py_files:
            kwargs["py_files"] = ",".join(self.py_files)
        if self.archives:
            kwargs["archives"] = ",".join(self.archives)
        return kwargs


def packages(cluster: ClusterSettings, needs_s3a: bool) -> tuple[str, ...]:
    out = [f"io.delta:delta-spark_{cluster.scala_binary_version}:{cluster.delta_version}"]
    if needs_s3a and cluster.hadoop_aws_version:
        out.append(f"org.apache.hadoop:hadoop-aws:{cluster.hadoop_aws_version}")
    return (*out, *cluster.extra_packages)


def s3a_confs(settings: Settings) -> dict[str, str]:
    """S3A confs for the lake's object store; `s3://` is mapped onto S3A as well."""
    s3 = settings.s3
    confs = {
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.aws.credentials.provider": S3A_CREDENTIALS_PROVIDER,
    }
    if s3.region:
        confs["spark.hadoop.fs.s3a.endpoint.region"] = s3.region
    if s3.endpoint_url:
        confs["spark.hadoop.fs.s3a.endpoint"] = s3.endpoint_url
        # S3-compatible servers (SeaweedFS, MinIO) serve buckets by path, not virtual host.
        confs["spark.hadoop.fs.s3a.path.style.access"] = "true"
        plain_http = s3.endpoint_url.startswith("http://")
        if s3.allow_http is not None:
            plain_http = s3.allow_http
        confs["spark.hadoop.fs.s3a.connection.ssl.enabled"] = "false" if plain_http else "true"
    return confs


def driver_settings(settings: Settings) -> dict[str, Any]:
    """The Settings the driver runs with: everything but secrets and the Spark master."""
    return settings.model_dump(mode="json", exclude=_DRIVER_SETTINGS_EXCLUDE)


def result_uri(cluster: ClusterSettings, settings: Settings, job: str, run_key: str) -> str:
    root = cluster.result_root or f"{settings.lake_root.rstrip('/')}/_tracelake/job_results"
    safe_key = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_key)
    return f"{root.rstrip('/')}/{job}/{safe_key}.json"


def build_submission(
    job: str,
    *,
    cluster: ClusterSettings,
    settings: Settings,
    application: str,
    result_uri: str,
    params: Mapping[str, Any] | None = None,
) -> SparkSubmission:
    """The submission of one job. `application` is the submit.py URI as the cluster sees it."""
    if not cluster.py_files and not cluster.python_env_archive:
        from ..errors import ConfigError

        raise ConfigError(
            "cluster mode needs the project on the cluster: set "
            "TRACELAKE_AIRFLOW__CLUSTER__PY_FILES to the built wheel (`pip wheel . -w dist`) or "
            "TRACELAKE_AIRFLOW__CLUSTER__PYTHON_ENV_ARCHIVE to a packed virtualenv"
        )
    uses_s3 = any(
        str(v).startswith(("s3://", "s3a://"))
        for v in (settings.lake_root, settings.landing, settings.export_root, result_uri)
    )
    conf: dict[str, str] = dict(DELTA_CONFS)
    if uses_s3:
        conf.update(s3a_confs(settings))
    archives: tuple[str, ...] = ()
    if cluster.python_env_archive:
        archives = (f"{cluster.python_env_archive}#{PYTHON_ENV_ALIAS}",)
        conf["spark.pyspark.python"] = f"./{PYTHON_ENV_ALIAS}/bin/python"
    # Project-wide Spark confs, then the cluster's own: the more specific setting wins.
    conf.update(settings.spark.conf)
    conf.update(cluster.conf)
    args = (
        job,
        "--settings",
        json.dumps(driver_settings(settings), sort_keys=True, separators=(",", ":")),
        "--result-uri",
        result_uri,
        "--params",
        json.dumps(dict(params or {}), sort_keys=True, separators=(",", ":")),
    )
    return SparkSubmission(
        job=job,
        application=application,
        application_args=args,
        name=f"tracelake-{job}",
        deploy_mode=cluster.deploy_mode,
        conn_id=cluster.conn_id,
        master=cluster.master,
        packages=packages(cluster, uses_s3),
        py_files=tuple(cluster.py_files),
        archives=archives,
        conf=conf,
    )
