"""tracelake_build: bronze -> derived tables, one task per derived job.

Runs when bronze.events changed (Asset schedule) and daily as a safety net. The tasks are
generated from the job registry: one per derived job, each downstream of the jobs that write the
tables it reads (the order `tracelake build` runs them in). Adding a job needs no edit here: a
new stage module with a module-level JOB appears as a task (see docs/jobs.md).
"""

from __future__ import annotations

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, task

from tracelake.jobs import registry
from tracelake.jobs.orchestration import tasks
from tracelake.jobs.orchestration.assets import BRONZE_EVENTS, job_alias
from tracelake.jobs.orchestration.config import load_orchestration
from tracelake.jobs.orchestration.defaults import dag_kwargs

_cfg = load_orchestration()  # the `airflow` settings section (toml + environment)

DOC = """
Runs the Spark jobs through their entry points (`run(ctx)`), locally in the worker or with
spark-submit on a cluster (`TRACELAKE_AIRFLOW__SPARK_MODE`). Each job task emits an asset event
for every table it updated (`tracelake.<tier>.<name>`), and none when it changed nothing.
See docs/airflow.md.
"""


def spark_job(job: str):
    """The task that runs `job`; its outlet is the job's alias (events per table written)."""

    @task(task_id=job, outlets=[job_alias(job)])
    def run(*, dag_run=None, outlet_events=None) -> dict:
        run_key = f"{dag_run.dag_id}/{dag_run.run_id}"
        return tasks.run_job(job, run_key=run_key, outlet_events=outlet_events)

    return run()


@dag(
    dag_id="tracelake_build",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(_cfg.build_safety_schedule, timezone=_cfg.timezone),
        assets=BRONZE_EVENTS,
    ),
    **dag_kwargs(_cfg, tags=("build", "spark", "silver"), doc_md=DOC, what="build"),
)
def tracelake_build():
    # The registry's plan lists the jobs without importing their modules (no pyspark here).
    jobs = registry.plan()
    upstream = registry.upstream_jobs(jobs)
    created = {}
    for spec in jobs:  # build order: every upstream task exists before its downstream ones
        created[spec.name] = spark_job(spec.name)
        for name in upstream[spec.name]:
            created[name] >> created[spec.name]


tracelake_build()
