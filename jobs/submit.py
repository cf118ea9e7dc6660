"""The spark-submit entry point: run one job of the registry (tracelake.jobs.registry).

    spark-submit [confs] .../tracelake/jobs/submit.py build --settings '{"lake_root": ...}' \
        --result-uri s3://bucket/lake/_tracelake/job_results/build/<run>.json --params '{}'
    python -m tracelake.jobs.submit build            # the same, without spark-submit

The job's JobResult is printed as one JSON line and, with --result-uri, written there, because in
cluster deploy mode the driver's stdout never reaches the machine that submitted it; the Airflow
task reads the result back to learn which tables changed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from tracelake.jobs.errors import ConfigError, TracelakeError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tracelake.jobs.submit", description="Run one tracelake job (spark-submit entry)."
    )
    parser.add_argument("job", help="job name, e.g. build")
    parser.add_argument("--settings", default="{}", help="JSON object of Settings fields")
    parser.add_argument("--params", default="{}", help="JSON object of the job's parameters")
    parser.add_argument("--result-uri", default=None, help="where to write the result JSON")
    return parser


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def write_result(uri: str, result: dict[str, Any], storage_options: dict[str, str]) -> None:
    from tracelake.jobs.lake.store import pyarrow_filesystem

    data = json.dumps(result, default=str, sort_keys=True).encode()
    fs, path = pyarrow_filesystem(uri, storage_options)
    if "://" not in uri:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    with fs.open_output_stream(path) as out:
        out.write(data)


def read_result(uri: str, storage_options: dict[str, str]) -> dict[str, Any]:
    from tracelake.jobs.lake.store import pyarrow_filesystem

    fs, path = pyarrow_filesystem(uri, storage_options)
    try:
        with fs.open_input_stream(path) as stream:
            return json.loads(stream.read())
    except FileNotFoundError:
        raise TracelakeError(
            f"the job wrote no result at {uri}; it did not finish (see the Spark driver log)"
        ) from None


def _adopt_submitted_session() -> None:
    # Under spark-submit the JVM gateway is already up with the cluster's master and --conf
    # values; creating the session first makes every later getOrCreate() return it instead of
    # a session built from local defaults.
    if "PYSPARK_GATEWAY_PORT" in os.environ:
        from pyspark.sql import SparkSession

        SparkSession.builder.getOrCreate()


def run_job(job: str, settings_overrides: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    from tracelake.jobs import registry
    from tracelake.jobs.context import JobContext
    from tracelake.jobs.settings import load_settings

    spec = registry.get(job)
    parsed = spec.parse_params(params)  # before the session: bad params fail fast
    ctx = JobContext.create(load_settings(**settings_overrides))
    return spec.run(ctx, parsed).to_dict()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        overrides = _json_object(args.settings, "--settings")
        params = _json_object(args.params, "--params")
        _adopt_submitted_session()
        result = run_job(args.job, overrides, params)
    except TracelakeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    if args.result_uri:
        from tracelake.jobs.settings import load_settings

        options = load_settings(**overrides).storage_options_for(args.result_uri)
        write_result(args.result_uri, result, options)
    print(json.dumps(result, default=str, sort_keys=True))
    return 1 if result.get("status") == "failed" else 0


if __name__ == "__main__":
    sys.exit(main())
