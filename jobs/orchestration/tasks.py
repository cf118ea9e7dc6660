"""Task callables: each one calls a job entry point and returns a JSON-able summary (XCom).

They hold no job logic. The DAG files wrap them in `@task`; tests and the CLI can call them
directly. Heavy modules (the lake, Spark) are imported inside the functions, so importing this
module while a DAG file is parsed stays cheap.
"""

from __future__ import annotations

import logging
from importlib.util import find_spec
from typing import Any

from .assets import emit_table_events, job_alias
from .config import OrchestrationSettings, SparkMode
from .runtime import task_orchestration, task_settings

log = logging.getLogger("tracelake.airflow")


def _skip(message: str) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    raise AirflowSkipException(message)


def _context(settings: Any = None) -> Any:
    from ..context import JobContext

    return JobContext.create(settings or task_settings())


# -- landing -> bronze ---------------------------------------------------------------------


def discover_landing(orchestration: OrchestrationSettings | None = None) -> dict[str, Any]:
    """Snapshot the landing zone: the files this run will ingest (and only those)."""
    from ..landing import LandingZone

    orch = orchestration or task_orchestration()
    zone = LandingZone(_context())
    pickup = zone.pending(settle_s=orch.landing_settle_s, max_files=orch.landing_max_files)
    log.info(
        "landing %s: %d new file(s), %d already ingested, %d still settling, %d deferred",
        zone.root,
        len(pickup.pending),
        pickup.already_consumed,
        pickup.settling,
        pickup.deferred,
    )
    return {
        "landing": zone.root,
        "files": [f.to_dict() for f in pickup.pending],
        "already_consumed": pickup.already_consumed,
        "settling": pickup.settling,
        "deferred": pickup.deferred,
        "listed": pickup.listed,
        "watermark": pickup.watermark,
    }


def ingest_landing(
    pickup: dict[str, Any], *, run_key: str, outlet_events: Any = None
) -> dict[str, Any]:
    """Ingest the snapshot's files, record them in the ledger, announce the tables written."""
    from ..landing import LandingFile, ingest_pickup

    files = [LandingFile.from_dict(f) for f in pickup.get("files", [])]
    if not files:
        _skip(f"no new files under {pickup.get('landing')}")
    ctx = _context()
    result = ingest_pickup(
        ctx, files, pickup["landing"], run_key, pickup.get("watermark")
    ).to_dict()
    result["ledger_version"] = result["details"]["ledger_version"]
    result["announced"] = _announce(outlet_events, "ingest", result, ctx)
    return result


# -- Spark jobs ----------------------------------------------------------------------------


def run_job(
    job: str,
    *,
    run_key: str,
    params: dict[str, Any] | None = None,
    outlet_events: Any = None,
    orchestration: OrchestrationSettings | None = None,
) -> dict[str, Any]:
    """Run one job: in this process (local mode, and non-Spark jobs) or via spark-submit.

    The parameters are validated by the job's params model here, before any submission, the
    same way the CLI and spark-submit validate them."""
    from .. import registry

    orch = orchestration or task_orchestration()
    settings = task_settings()
    spec = _job_spec(job)
    params = spec.parse_params(dict(params or {})).model_dump(mode="json")
    if spec.needs_spark and orch.spark_mode is SparkMode.cluster:
        result = submit_to_cluster(
            job, run_key=run_key, params=params, orch=orch, settings=settings
        )
    else:
        ctx = _context(settings)
        result = registry.run(job, ctx, params).to_dict()
    if result.get("status") == "failed":
        from ..errors import JobFailedError

        raise JobFailedError(f"job {job} failed: {result.get('message')}")
    result["announced"] = _announce(outlet_events, job, result, _context(settings))
    return result


def _job_spec(job: str) -> Any:
    """The job's declaration. Derived jobs come from the registry's plan, which does not import
    their modules here: in cluster mode this environment may not have full pyspark."""
    from .. import registry
    from ..builtins import BUILTIN_JOBS

    for spec in (*BUILTIN_JOBS, *registry.plan()):
        if spec.name == job:
            return spec
    return registry.get(job)  # raises: unknown job, naming the known ones


def default_application() -> str:
    """The installed tracelake/jobs/submit.py (right for client deploy mode)."""
    spec = find_spec("tracelake.jobs.submit")
    if spec is None or not spec.origin:
        from ..errors import ConfigError

        raise ConfigError("tracelake.jobs.submit is not importable; install the project")
    return spec.origin


def submit_to_cluster(
    job: str,
    *,
    run_key: str,
    params: dict[str, Any],
    orch: OrchestrationSettings,
    settings: Any,
) -> dict[str, Any]:
    from ..errors import ConfigError
    from ..submit import read_result
    from .spark_submit import build_submission, result_uri

    try:
        from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook
    except ImportError:
        raise ConfigError(
            "spark_mode=cluster needs apache-airflow-providers-apache-spark in the Airflow "
            "environment (its own venv: the provider installs pyspark-client, which must not "
            "share a venv with full pyspark); see docs/airflow.md"
        ) from None
    uri = result_uri(orch.cluster, settings, job, run_key)
    submission = build_submission(
        job,
        cluster=orch.cluster,
        settings=settings,
        application=orch.cluster.application or default_application(),
        result_uri=uri,
        params=params,
    )
    kwargs = submission.operator_kwargs()
    application = kwargs.pop("application")
    log.info(
        "submitting %s: %s", job, " ".join(submission.argv()[: -len(submission.application_args)])
    )
    SparkSubmitHook(**kwargs).submit(application)
    return read_result(uri, settings.storage_options_for(uri))


def _announce(outlet_events: Any, job: str, result: dict[str, Any], ctx: Any) -> list[str]:
    """Asset events for the tables the job wrote (none when it wrote nothing)."""
    if outlet_events is None:
        return []
    from ..lake import catalog

    uris = {}
    for table in result.get("versions_written", {}):
        try:
            uris[table] = ctx.lake.uri(catalog.get(table))
        except KeyError:
            uris[table] = None
    announced = emit_table_events(outlet_events, job_alias(job), result, uris)
    log.info("job %s updated: %s", job, ", ".join(announced) or "nothing")
    return announced


# -- gold -> exports (issue 15) ----------------------------------------------------------------


def run_gates(tables: list[str] | None = None) -> dict[str, Any]:
    """The quality gates (jobs/quality/gates.py) on the tables the export reads, in this
    worker with a local Spark session. A failed gate fails the task, so the exports after it do
    not run (the export would refuse those table versions anyway)."""
    from ..errors import GateFailedError
    from ..quality.gates import run_gates as gate

    run = gate(_context(), tables)
    result = {
        "gate_run_id": run.gate_run_id,
        "passed": run.passed,
        "tables": {r.table: {"version": r.table_version, "passed": r.passed} for r in run.results},
        "skipped": run.skipped,
        "docs_index": run.docs_index,
    }
    log.info("gates %s: %s", run.gate_run_id, "passed" if run.passed else "FAILED")
    if not run.passed:
        raise GateFailedError(f"quality gate failed: {', '.join(run.failing())}")
    return result


def export_dataset(dataset: str, *, outlet_events: Any = None) -> dict[str, Any]:
    """Export one dataset (jobs/export/job.py). A new build emits `tracelake.export.<dataset>`
    with `extra={"manifest": <uri>, ...}`; a build that was already there emits nothing; an
    empty dataset skips the task."""
    from ..errors import InputNotFoundError
    from ..export.job import export_dataset as run_export
    from .assets import export_alias, export_asset

    try:
        outcome = run_export(_context(), dataset)
    except InputNotFoundError as exc:
        _skip(str(exc))
    result = outcome.to_dict()
    if outcome.status == "written" and outlet_events is not None:
        outlet_events[export_alias(dataset)].add(
            export_asset(dataset),
            extra={
                "manifest": outcome.manifest,
                "build_id": outcome.build_id,
                "rows": outcome.rows,
                "source_table_versions": outcome.source_table_versions,
            },
        )
        result["announced"] = [export_asset(dataset).name]
    log.info("export %s: %s %s", dataset, outcome.status, outcome.manifest)
    return result
