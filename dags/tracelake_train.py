"""tracelake_train: train on a new export, then record the run in ops.train_runs.

Triggered by the export Asset of the dataset the configured recipe reads (its event carries the
manifest URI). Local mode trains in a subprocess of the worker; cluster mode returns the trainer's
command for a GPU operator. The trainer never touches the lake: `record` appends its run record,
then `evaluate` benchmarks each phase's checkpoint.
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task

from tracelake.jobs.orchestration.assets import export_asset
from tracelake.jobs.orchestration.config import OrchestrationSettings
from tracelake.jobs.orchestration.defaults import dag_kwargs

_cfg = OrchestrationSettings()

# The export DAG emits one asset per dataset, `extra={"manifest": <uri>}`.
EXPORT_SFT = export_asset("sft")

DOC = """
`train` reads the manifest from the triggering export event and runs `tracelake.trainer.run`
(local subprocess or, with `TRACELAKE_TRAIN__MODE=cluster`, the command for a GPU operator).
`record` appends the run record to ops.train_runs. `evaluate` runs the workflow benchmark on the
checkpoint of every phase (ops.eval_results, events, report; docs/evaluation.md).
See docs/training.md.
"""


@dag(
    dag_id="tracelake_train",
    schedule=[EXPORT_SFT],
    **dag_kwargs(_cfg, tags=("train",), doc_md=DOC, what="train"),
)
def tracelake_train():
    @task(task_id="train")
    def train() -> dict:
        from tracelake.jobs.settings import load_settings
        from tracelake.jobs.train_runs import manifest_from_events, train_task

        events = get_current_context().get("triggering_asset_events")
        return train_task(manifest_from_events(events, "sft"), load_settings().train)

    @task(task_id="record")
    def record(trained: dict) -> dict:
        from tracelake.jobs.context import JobContext
        from tracelake.jobs.settings import load_settings
        from tracelake.jobs.train_runs import record_train_run

        if trained.get("mode") != "local":
            return {"status": "skipped", "reason": "cluster runs are recorded by their operator"}
        ctx = JobContext.create(load_settings())
        recorded = record_train_run(ctx, trained["checkpoint"]).to_dict()
        return {**recorded, "checkpoint": trained["checkpoint"]}

    @task(task_id="evaluate")
    def evaluate(recorded: dict) -> dict:
        """The workflow benchmark on every phase's checkpoint (ops.eval_results + report)."""
        from tracelake.jobs.evaluation.job import evaluate_phases
        from tracelake.jobs.settings import load_settings

        if not recorded.get("checkpoint"):
            return {
                "status": "skipped",
                "reason": "cluster checkpoints are evaluated by their operator",
            }
        return {"phases": evaluate_phases(recorded["checkpoint"], load_settings())}

    evaluate(record(train()))


tracelake_train()
