"""tracelake_build: bronze -> derived tables, one task per Spark job.

Runs when bronze.events changed (Asset schedule) and daily as a safety net. One task per derived
job, in the order `tracelake build` runs them (tracelake.jobs.build.derived_jobs). To add a job:
register it in tracelake.jobs.orchestration.registry and add one `spark_job(...)` line below,
downstream of the jobs whose tables it reads.
"""

from __future__ import annotations

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, task

from tracelake.jobs.orchestration import tasks
from tracelake.jobs.orchestration.assets import BRONZE_EVENTS, job_alias
from tracelake.jobs.orchestration.config import OrchestrationSettings
from tracelake.jobs.orchestration.defaults import dag_kwargs

_cfg = OrchestrationSettings()

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
    runs = spark_job("project_runs")  # bronze.events -> silver.runs
    # silver.runs -> silver.synthetic_* (scenario expansion, one table per job)
    expand = [spark_job(j) for j in ("synthetic_events", "synthetic_runs", "synthetic_rejected")]
    runs >> expand[0] >> expand[1] >> expand[2]


tracelake_build()
