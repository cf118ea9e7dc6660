"""tracelake_maintain: weekly lake maintenance (compaction, VACUUM, checkpoints, log cleanup).

Thin by design: the task calls tracelake.jobs.orchestration.tasks.run_job("maintain"); the work
lives in tracelake.jobs.maintain. See docs/maintenance.md.
"""

from __future__ import annotations

from airflow.sdk import CronTriggerTimetable, dag, task

from tracelake.jobs.orchestration import tasks
from tracelake.jobs.orchestration.config import OrchestrationSettings
from tracelake.jobs.orchestration.defaults import dag_kwargs

_cfg = OrchestrationSettings()
# Sunday 03:00: after the week's builds, when few readers hold old snapshots.
WEEKLY = "0 3 * * 0"

DOC = """
Compacts small files, VACUUMs files no snapshot of the retention window needs (including staged
files of commits with an unknown outcome), writes checkpoints and cleans old log entries, for
every lake table. Settings: `[maintenance]` in tracelake.toml.
"""


@dag(
    dag_id="tracelake_maintain",
    schedule=CronTriggerTimetable(WEEKLY, timezone=_cfg.timezone),
    **dag_kwargs(_cfg, tags=("maintenance",), doc_md=DOC, what="maintain"),
)
def tracelake_maintain():
    @task
    def maintain(*, dag_run=None) -> dict:
        return tasks.run_job("maintain", run_key=f"{dag_run.dag_id}/{dag_run.run_id}")

    maintain()


tracelake_maintain()
