"""tracelake_ingest: landing zone -> bronze.events / bronze.quarantine.

Thin by design: the tasks call tracelake.jobs.orchestration.tasks; the work lives in jobs/.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from tracelake.jobs.orchestration import tasks
from tracelake.jobs.orchestration.assets import job_alias
from tracelake.jobs.orchestration.config import load_orchestration
from tracelake.jobs.orchestration.defaults import dag_kwargs

_cfg = load_orchestration()  # the `airflow` settings section (toml + environment)

DOC = """
Picks up new trace files under the landing location (`Settings.landing`: a folder or an s3://
prefix), ingests them, and records them in the `ops.landing_files` ledger so that nothing is
ingested twice or skipped. Emits `tracelake.bronze.events` (and `tracelake.bronze.quarantine`)
only when it stored rows there. See docs/airflow.md.
"""


@dag(
    dag_id="tracelake_ingest",
    schedule=_cfg.ingest_schedule or None,
    **dag_kwargs(_cfg, tags=("ingest", "bronze"), doc_md=DOC, what="ingest"),
)
def tracelake_ingest():
    @task
    def discover_landing() -> dict:
        return tasks.discover_landing()

    @task(outlets=[job_alias("ingest")])
    def ingest_landing(pickup: dict, *, dag_run=None, outlet_events=None) -> dict:
        run_key = f"{dag_run.dag_id}/{dag_run.run_id}"
        return tasks.ingest_landing(pickup, run_key=run_key, outlet_events=outlet_events)

    ingest_landing(discover_landing())


tracelake_ingest()
