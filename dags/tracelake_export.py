"""tracelake_export: gold tables -> quality gates -> training datasets, one task per dataset.

Runs when a gold table it exports changed (Asset schedule). Thin by rule: the gate task calls
tracelake.jobs.orchestration.tasks.run_gates (the code behind `tracelake gate`), each export
task tasks.export_dataset, the code behind `tracelake export`. A new
build emits `tracelake.export.<dataset>` with the manifest URI in the event's extra, which
schedules tracelake_train. See docs/export.md.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from tracelake.jobs.orchestration import tasks
from tracelake.jobs.orchestration.assets import EXPORT_SOURCES, export_alias, table_asset
from tracelake.jobs.orchestration.config import load_orchestration
from tracelake.jobs.orchestration.defaults import dag_kwargs

_cfg = load_orchestration()

DOC = """
Runs the quality gates on the gold tables (a failed gate stops the DAG: no export runs), then
exports sft (gold.examples), dpo (gold.preferences) and constitutional
(gold.constitutional_pairs) at their current table versions, shards then manifest.json. The
default build id is a hash of the table versions and options, so a run where nothing changed
writes nothing and emits nothing. An empty dataset skips its task. See docs/export.md.
"""

_gold = [table_asset(t) for t in dict.fromkeys(EXPORT_SOURCES.values())]
_schedule = _gold[0]
for _asset in _gold[1:]:
    _schedule = _schedule | _asset


@task(task_id="gate")
def gate_task() -> dict:
    return tasks.run_gates()


def export_task(dataset: str, first: bool):
    @task(
        task_id=f"export_{dataset}",
        outlets=[export_alias(dataset)],
        # a skipped (empty) dataset must not skip the ones after it
        trigger_rule="all_success" if first else "none_failed",
    )
    def run(*, outlet_events=None) -> dict:
        return tasks.export_dataset(dataset, outlet_events=outlet_events)

    return run()


@dag(
    dag_id="tracelake_export",
    schedule=_schedule,
    **dag_kwargs(_cfg, tags=("export",), doc_md=DOC, what="export"),
)
def tracelake_export():
    previous = gate_task()
    for index, dataset in enumerate(EXPORT_SOURCES):  # one at a time: they share the machine
        current = export_task(dataset, first=index == 0)
        previous >> current
        previous = current


tracelake_export()
