"""Compatibility shim: jobs are declared in tracelake.jobs.registry (built-in jobs) or
discovered there (derived jobs: a stage module with a module-level JOB).

`JOB_MODULES` and `SPARK_JOBS` are no longer read by anything; entries added to them are
harmless. Use `tracelake.jobs.registry.get(name)` instead.
"""

from __future__ import annotations

from types import ModuleType

JOB_MODULES: dict[str, str] = {
    "ingest": "tracelake.jobs.ingest.job",
    # Every derived job (what `tracelake build` runs, in order), each a task of tracelake_build.
    "scrub_events": "tracelake.jobs.silver.scrub_events",
    "scrub_log": "tracelake.jobs.silver.scrub_log",
    "project_runs": "tracelake.jobs.project_runs",
    "component_usage": "tracelake.jobs.silver.component_usage",
    "components": "tracelake.jobs.silver.components",
    "component_evolution": "tracelake.jobs.silver.component_evolution",
    "patterns": "tracelake.jobs.silver.patterns",
    "run_patterns": "tracelake.jobs.silver.run_patterns",
    # All derived jobs in one submission (the CLI's `tracelake build`).
    "build": "tracelake.jobs.build",
}

# Jobs that need Spark: in cluster mode these are submitted with spark-submit; the others run in
# the Airflow worker (ingest writes with delta-rs and needs no Spark).
SPARK_JOBS: frozenset[str] = frozenset(
    {
        "project_runs",
        "build",
        "component_usage",
        "components",
        "component_evolution",
        "patterns",
        "run_patterns",
    }
)


def job_module(name: str) -> ModuleType:
    """The module of a job's entry point (deprecated: use registry.get(name).run)."""
    import importlib

    from ..registry import get

    return importlib.import_module(get(name).entry.partition(":")[0])
