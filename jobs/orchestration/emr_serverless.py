"""The cluster-mode submission of a job as an EMR Serverless StartJobRun request.

EMR Serverless has no spark-submit endpoint: a job run is an API call whose `sparkSubmit` driver
carries the same entry file, arguments and Spark properties as the command line of
`spark_submit.py`. This module renders one `SparkSubmission` that way (a pure function; the
boto3 / EmrServerlessStartJobOperator call lives with whoever starts the run). The values that
are not in the submission (application, execution role, log location) are the Terraform spark
module's outputs.

`--packages` is not carried over: the workers of the Terraform deployment have no internet, so
the Delta jars arrive through `spark.jars` (in the cluster confs) from the artifacts bucket.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..errors import ConfigError
from .spark_submit import SparkSubmission


def start_job_run_request(
    submission: SparkSubmission,
    *,
    application_id: str,
    execution_role_arn: str,
    run_key: str,
    logs_uri: str | None = None,
    logs_kms_key_arn: str | None = None,
    timeout_minutes: int = 120,
) -> dict[str, Any]:
    """Keyword arguments for `emr-serverless` StartJobRun (boto3 `start_job_run`).

    `run_key` (e.g. the Airflow run id and try) becomes the idempotency token: a retried task
    that re-sends the same request does not start a second run.
    """
    if not application_id or not execution_role_arn.startswith("arn:"):
        raise ConfigError(
            "EMR Serverless needs the application id and the job execution role ARN: take them "
            "from `terraform output -json spark` (application_id, job_role_arn)"
        )
    if timeout_minutes < 1:
        raise ConfigError(f"timeout_minutes must be at least 1, got {timeout_minutes}")
    conf = dict(submission.conf)
    if submission.py_files:
        conf.setdefault("spark.submit.pyFiles", ",".join(submission.py_files))
    if submission.archives:
        conf.setdefault("spark.archives", ",".join(submission.archives))
    spaced = sorted(key for key, value in conf.items() if any(c.isspace() for c in value))
    if spaced:
        raise ConfigError(
            f"Spark properties {', '.join(spaced)} hold whitespace, which sparkSubmitParameters "
            "cannot carry; set them as application defaults instead"
        )
    parameters = " ".join(f"--conf {key}={conf[key]}" for key in sorted(conf))
    request: dict[str, Any] = {
        "applicationId": application_id,
        "executionRoleArn": execution_role_arn,
        "name": submission.name,
        # StartJobRun accepts at most 64 characters: a digest keeps any run key within it.
        "clientToken": hashlib.sha256(f"{submission.name}:{run_key}".encode()).hexdigest()[:64],
        "executionTimeoutMinutes": timeout_minutes,
        "jobDriver": {
            "sparkSubmit": {
                "entryPoint": submission.application,
                "entryPointArguments": list(submission.application_args),
                "sparkSubmitParameters": parameters,
            }
        },
    }
    if logs_uri:
        monitoring: dict[str, str] = {"logUri": logs_uri}
        if logs_kms_key_arn:
            monitoring["encryptionKeyArn"] = logs_kms_key_arn
        request["configurationOverrides"] = {
            "monitoringConfiguration": {"s3MonitoringConfiguration": monitoring}
        }
    return request
