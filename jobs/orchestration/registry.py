"""Job name -> the module holding its `run(ctx, **params) -> JobResult` entry point.

The CLI, Airflow (local mode) and `tracelake.jobs.submit` (cluster mode) resolve jobs here, so a
new job is registered once and runs the same way everywhere.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import ConfigError

JOB_MODULES: dict[str, str] = {
    "ingest": "tracelake.jobs.ingest.job",
    # Every derived job (what `tracelake build` runs, in order), each a task of tracelake_build.
    "project_runs": "tracelake.jobs.project_runs",
    # All derived jobs in one submission (the CLI's `tracelake build`).
    "build": "tracelake.jobs.build",
    # Compaction, VACUUM, checkpoints (delta-rs by default: no Spark).
    "maintain": "tracelake.jobs.maintain",
}

# Jobs that need Spark: in cluster mode these are submitted with spark-submit; the others run in
# the Airflow worker (ingest writes with delta-rs and needs no Spark).
SPARK_JOBS: frozenset[str] = frozenset({"project_runs", "build"})


def job_module(name: str) -> ModuleType:
    """Import a job's module; the error names the known jobs."""
    try:
        path = JOB_MODULES[name]
    except KeyError:
        known = ", ".join(sorted(JOB_MODULES))
        raise ConfigError(f"unknown job {name!r}; known jobs: {known}") from None
    module = importlib.import_module(path)
    if not callable(getattr(module, "run", None)):
        raise ConfigError(f"job module {path} has no run(ctx, **params) entry point")
    return module
