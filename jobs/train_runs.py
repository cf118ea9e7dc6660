"""The `record_train_run` job: append a trainer's run record to `ops.train_runs`.

The trainer never touches the lake; this job (run by `tracelake train` and the train DAG) reads
the `run_record.json` next to a checkpoint and appends it, once per run id.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from tracelake.schemas.train_runs import TrainRun

from .context import JobContext, JobResult, recorded_job_run
from .errors import InputNotFoundError
from .lake import catalog

RUN_RECORD = "run_record.json"


def read_record(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if p.is_dir():
        p = p / RUN_RECORD
    if not p.is_file():
        raise InputNotFoundError(f"{p}: no run record; pass a checkpoint folder the trainer wrote")
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise InputNotFoundError(
            f"{p}: run record is not JSON ({exc.msg}); re-run training"
        ) from None


def to_row(record: dict[str, Any]) -> TrainRun:
    return TrainRun(
        run_id=record["run_id"],
        recipe=record["recipe"],
        manifest=record["manifest"],
        dataset=record["dataset"],
        build_id=record["build_id"],
        config_hash=record["config_hash"],
        checkpoint_uri=record["checkpoint_uri"],
        status=record["status"],
        started_at=datetime.fromisoformat(record["started_at"]),
        ended_at=datetime.fromisoformat(record["ended_at"]) if record.get("ended_at") else None,
        world_size=record.get("world_size", 1),
        steps=record.get("steps", 0),
        tokens_per_s=record.get("tokens_per_s", 0.0),
        mfu=record.get("mfu"),
        padding_pct=record.get("padding_pct", 0.0),
        truncation_pct=record.get("truncation_pct", 0.0),
        supervised_pct=record.get("supervised_pct", 0.0),
        loss_first=record.get("loss_first"),
        loss_last=record.get("loss_last"),
        eval_json=json.dumps(record.get("eval", {}), sort_keys=True),
        record_json=json.dumps(record, sort_keys=True, default=str),
        recorded_at=datetime.now(UTC),
    )


def record_train_run(ctx: JobContext, checkpoint: str | Path) -> JobResult:
    record = read_record(checkpoint)
    spec = catalog.OPS_TRAIN_RUNS
    with recorded_job_run(ctx, "record_train_run", {"checkpoint": str(checkpoint)}) as result:
        result.rows_in = 1
        if ctx.lake.version(spec) is not None:
            existing = ctx.lake.read(spec, columns=["run_id"]).column("run_id").to_pylist()
            if record["run_id"] in existing:
                result.status = "noop"
                result.rows_duplicate = 1
                return result
        table = pa.Table.from_pylist([to_row(record).model_dump()], schema=spec.schema)
        version = ctx.lake.append(spec, table)
        if version is not None:
            result.versions_written[spec.qualified_name] = version
        result.rows_out = 1
    return result


def train_and_record(
    make_context: Any,
    manifest: str | None,
    recipe: str,
    config: str | None,
    overrides: list[str],
    nproc: int,
    record: bool,
    evaluate: bool = False,
    eval_tasks_per_level: int | None = None,
) -> list[str]:
    """Run the trainer (in-process, or torchrun for nproc > 1), then append its run records;
    `evaluate`: then run the workflow benchmark on every checkpoint (each pipeline phase's).

    The trainer is imported only here, so the lake layer works without the `train` extra."""
    import subprocess
    from pathlib import Path

    from .errors import JobFailedError

    try:
        from tracelake.trainer.launch import output_dir_of, train_command
        from tracelake.trainer.run import train
    except ImportError as exc:
        raise JobFailedError(
            f"the trainer is not installed ({exc.name}); install the extra: pip install "
            "'tracelake[train]' (or make .venv/.stamps/train)"
        ) from None
    if nproc > 1:
        command = train_command(manifest, recipe, config, overrides, nproc)
        if subprocess.run(command, check=False).returncode != 0:
            raise JobFailedError(f"distributed training failed: {' '.join(command)}")
        base = Path(output_dir_of(recipe, config, overrides))
        checkpoints = [base] if (base / RUN_RECORD).exists() else sorted(base.glob("*/"))
    else:
        checkpoints = [Path(r.checkpoint_uri) for r in train(manifest, recipe, config, overrides)]
    lines = []
    ctx = make_context() if record or evaluate else None
    for checkpoint in checkpoints:
        lines.append(f"checkpoint: {checkpoint}")
        if ctx is not None and record:
            result = record_train_run(ctx, checkpoint)
            lines.append(f"ops.train_runs: {result.status}")
        if ctx is not None and evaluate:
            from .evaluation.job import evaluate_checkpoint

            run = evaluate_checkpoint(
                str(checkpoint), ctx.settings, tasks_per_level=eval_tasks_per_level
            )
            lines.append(
                f"evaluation {run['eval_id']}: completion {run['summary']['completion']:.3f} "
                f"over {run['summary']['episodes']} episodes"
            )
    return lines


# -- the tracelake_train DAG's tasks ----------------------------------------------------------

EXPORT_ASSET_PREFIX = "tracelake.export."


def manifest_from_events(events: Any, dataset: str) -> str:
    """The manifest URI carried by the newest export asset event of `dataset`."""
    from .errors import InputNotFoundError

    name = f"{EXPORT_ASSET_PREFIX}{dataset}"
    for asset, asset_events in dict(events or {}).items():
        if getattr(asset, "name", None) == name and asset_events:
            manifest = (asset_events[-1].extra or {}).get("manifest")
            if manifest:
                return str(manifest)
    raise InputNotFoundError(
        f"no {name} asset event with a manifest; trigger the DAG from an export or pass one"
    )


def cluster_train_command(manifest: str, settings: Any) -> list[str]:
    """The command a GPU operator (a Kubernetes pod, a batch job) runs for this export."""
    from tracelake.trainer.launch import train_command

    return train_command(
        manifest, settings.recipe, settings.config, [], settings.nproc, python=settings.python
    )


def train_task(manifest: str, settings: Any) -> dict[str, Any]:
    """Local mode: train in a subprocess and return its checkpoint; cluster mode: return the
    command for the GPU operator task that follows."""
    import subprocess
    import sys

    from .errors import JobFailedError

    if settings.mode == "cluster":
        return {"mode": "cluster", "command": cluster_train_command(manifest, settings)}
    from tracelake.trainer.launch import output_dir_of, train_command

    command = train_command(
        manifest, settings.recipe, settings.config, [], settings.nproc, python=sys.executable
    )
    if subprocess.run(command, check=False).returncode != 0:
        raise JobFailedError(f"training failed: {' '.join(command)}")
    return {"mode": "local", "checkpoint": output_dir_of(settings.recipe, settings.config)}
