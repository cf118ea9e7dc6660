"""`tracelake eval`: pick the policy, run the benchmark, store it (events + ops.eval_results)
and write the report. The Airflow train DAG calls `evaluate_checkpoint` after each phase."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..context import JobContext
from ..environment.tasks import TaskError
from ..errors import ConfigError, InputNotFoundError, JobFailedError
from .policies import EvalPolicy, Oracle, RandomPolicy, Replay
from .runner import EvalInputError, EvalOptions, EvalRun, evaluate

BASELINES: dict[str, Callable[[], EvalPolicy]] = {
    "oracle": Oracle,
    "random": RandomPolicy,
    "replay": Replay,
}


def make_policy(
    spec: str, *, sample: bool = False, temperature: float = 1.0, model: str = "default",
    max_new_tokens: int = 128, seed: int = 0, settings: Any = None,
) -> EvalPolicy:  # fmt: skip
    """oracle | random | replay | a model directory | an http(s) OpenAI-compatible endpoint."""
    if spec in BASELINES:
        return BASELINES[spec]()
    if spec.startswith(("http://", "https://")):
        from .model_policies import EndpointPolicy

        section = settings.evaluation if settings is not None else None
        key = section.api_key.get_secret_value() if section and section.api_key else None
        return EndpointPolicy(spec, model=model, temperature=temperature if sample else 0.0,
                              seed=seed, api_key=key,
                              timeout_s=section.timeout_s if section else 60.0)  # fmt: skip
    path = Path(spec)
    if not path.is_dir():
        raise InputNotFoundError(
            f"--policy {spec}: not oracle, random, replay, an http(s):// endpoint or a model "
            "directory; pass a checkpoint folder the trainer wrote"
        )
    if not (path / "config.json").is_file():
        raise InputNotFoundError(f"{path}: no config.json; not a transformers model directory")
    try:
        from .model_policies import ModelDirPolicy
    except ImportError as exc:
        raise JobFailedError(
            f"model policies need the trainer ({exc.name}); install 'tracelake[train]'"
        ) from None
    return ModelDirPolicy(path, sample=sample, temperature=temperature,
                          max_new_tokens=max_new_tokens, seed=seed)  # fmt: skip


def manifest_of(policy: EvalPolicy) -> str:
    """The export a checkpoint was trained on (its run record), or '-'."""
    directory = getattr(policy, "directory", None)
    record = Path(directory) / "run_record.json" if directory else None
    if record is not None and record.is_file():
        try:
            return str(json.loads(record.read_text()).get("manifest") or "-")
        except json.JSONDecodeError:
            return "-"
    return "-"


def run_eval(
    ctx: JobContext,
    policy: EvalPolicy,
    options: EvalOptions,
    *,
    store_results: bool = True,
    events: bool = True,
    report: bool = True,
) -> tuple[EvalRun, dict[str, Any]]:
    """Evaluate, store and report. Returns the run and what was written where."""
    from .results import earlier_summaries, store
    from .runner import episodes_planned

    progress = ctx.progress
    try:
        options.validate()
        total = episodes_planned(options)
        if progress is not None:
            progress.start(f"eval {policy.name}", total)
        run = evaluate(policy, options, tick=progress.advance if progress is not None else None)
    except (EvalInputError, TaskError) as exc:
        raise ConfigError(str(exc)) from None
    finally:
        if progress is not None:
            progress.finish()
    run.manifest = manifest_of(policy)
    written: dict[str, Any] = {}
    if store_results:
        earlier = earlier_summaries(ctx)
        result = store(ctx, run, events=events)
        written["ops.eval_results"] = result.rows_out
        written["events"] = result.details.get("events_ingested")
    else:
        earlier = []
    if report:
        from .report import write_report

        written["report"] = write_report(ctx, run, earlier)
    return run, written


def summary_lines(run: EvalRun, written: dict[str, Any]) -> list[str]:
    keys = ("completion", "pass^1", "validity", "first_component", "call_ratio", "self_correction",
            "constraint_adherence", "creation", "als")  # fmt: skip
    lines = [f"eval {run.eval_id}: {run.policy} ({run.checkpoint}), {len(run.records)} episodes"]
    for scope, figures in run.summary.items():
        parts = []
        for k in keys:
            v = figures.get(k)
            parts.append(f"{k} {'n/a' if v is None else f'{v:.3f}'}")
        lines.append(f"  {scope}: " + ", ".join(parts))
    for what, where in written.items():
        lines.append(f"{what}: {where}")
    return lines


def evaluate_checkpoint(
    checkpoint: str,
    settings: Any,
    levels: tuple[int, ...] = (1, 2, 3),
    tasks_per_level: int | None = None,
) -> dict:
    """The train DAG's `evaluate` task: the checkpoint a phase wrote, every level, goal prompt."""
    from ..settings import load_settings

    ctx = JobContext.create(settings or load_settings())
    options = EvalOptions(levels=levels, tasks_per_level=tasks_per_level)
    run, written = run_eval(ctx, make_policy(checkpoint), options)
    return {"eval_id": run.eval_id, "summary": run.summary["all"], **written}


def phase_checkpoints(checkpoint: str | Path) -> list[Path]:
    """The model directories a training task wrote: itself, or one per pipeline phase."""
    base = Path(checkpoint)
    if (base / "config.json").is_file():
        return [base]
    order = {"sft": 0, "dpo": 1, "constitutional": 2, "grpo": 3}  # the pipeline's default order
    found = [p for p in base.glob("*/") if (p / "config.json").is_file()]
    return sorted(found, key=lambda p: (order.get(p.name, len(order)), p.name))


def evaluate_phases(checkpoint: str, settings: Any = None) -> list[dict]:
    """The train DAG's `evaluate` task: every phase's checkpoint, in phase order."""
    found = phase_checkpoints(checkpoint)
    if not found:
        raise InputNotFoundError(f"{checkpoint}: no model directory (config.json) to evaluate")
    return [evaluate_checkpoint(str(p), settings) for p in found]
