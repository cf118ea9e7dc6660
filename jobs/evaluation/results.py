"""Stores an evaluation: episodes as events in bronze.events (through the ingest job, like any
trace file), results in ops.eval_results, and the HTML report (report.py)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from ...schemas.eval_results import EvalResult
from ..context import JobContext, JobResult, recorded_job_run
from ..lake import catalog
from ..lake.store import pyarrow_filesystem
from .events import episode_events, run_id_of
from .runner import EvalRun

EPISODES_DIR = "ops/eval"
EPISODE_FIGURES = (
    "steps", "turns", "cost_usd", "ended_by", "violations", "unmet", "fault", "change",
    "broken_rules", "created", "created_gap_component", "parse_errors", "expert_calls",
    "expert_cost_usd", "env_faults_injected", "env_faults_recovered", "heldout_component",
)  # fmt: skip


def _row_id(eval_id: str, *parts: Any) -> str:
    return hashlib.sha256(json.dumps([eval_id, *parts]).encode()).hexdigest()[:32]


def result_rows(run: EvalRun, recorded_at: datetime) -> list[dict[str, Any]]:
    from . import metrics

    prompt = run.options["prompt"]
    common = {
        "eval_id": run.eval_id,
        "policy": run.policy,
        "checkpoint": run.checkpoint,
        "manifest": run.manifest,
        "prompt": prompt,
        "taskset": run.taskset,
        "options_json": json.dumps(run.options, sort_keys=True),
        "started_at": run.started_at,
        "recorded_at": recorded_at,
    }
    rows = []
    for r in run.records:
        figures = {k: r[k] for k in EPISODE_FIGURES}
        figures.update(metrics.episode_efficiency(r))
        figures["fault_outcome"] = metrics.fault_outcome(r)
        rows.append(
            EvalResult(
                row_id=_row_id(run.eval_id, "episode", r["task_id"], r["trial"], r["memory"]),
                scope="episode",
                level=r["level"],
                task_id=r["task_id"],
                family=r["family"],
                trial=r["trial"],
                memory=r["memory"],
                success=r["success"],
                run_id=run_id_of(run.eval_id, r),
                metrics_json=json.dumps(figures, sort_keys=True, default=str),
                **common,
            ).model_dump()
        )
    for scope, summary in run.summary.items():
        level = 0 if scope == "all" else int(scope[1:])
        rows.append(
            EvalResult(
                row_id=_row_id(run.eval_id, scope),
                scope="all" if scope == "all" else "level",
                level=level,
                trial=0,
                memory=False,
                metrics_json=json.dumps(summary, sort_keys=True),
                **common,
            ).model_dump()
        )
    return rows


def write_episodes(ctx: JobContext, run: EvalRun) -> str:
    """The episodes' events as one canonical JSONL file under the lake's ops area."""
    lines: list[bytes] = []
    for r in run.records:
        events = episode_events(
            r,
            eval_id=run.eval_id,
            policy=run.policy,
            checkpoint=run.checkpoint,
            start=run.started_at,
            component_kinds={k: (v[0], v[1]) for k, v in r["components"].items()},
        )
        lines.extend(orjson.dumps(e) for e in events)
    root = ctx.settings.lake_root.rstrip("/")
    uri = f"{root}/{EPISODES_DIR}/{run.eval_id}/episodes.jsonl"
    fs, path = pyarrow_filesystem(uri, ctx.settings.storage_options_for(uri))
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(path) as out:
        out.write(b"\n".join(lines) + b"\n")
    return uri


def store(ctx: JobContext, run: EvalRun, events: bool = True) -> JobResult:
    """Ingest the episodes as events (if `events`), then append the results rows."""
    from ..ingest import job as ingest_job

    spec = catalog.OPS_EVAL_RESULTS
    params = {"eval_id": run.eval_id, "policy": run.policy, "checkpoint": run.checkpoint}
    ingested = None
    if events:
        ingested = ingest_job.run(ctx, [write_episodes(ctx, run)])
    with recorded_job_run(ctx, "eval", params) as result:
        rows = result_rows(run, datetime.now(UTC))
        result.rows_in = len(run.records)
        version = ctx.lake.append(spec, pa.Table.from_pylist(rows, schema=spec.schema))
        if version is not None:
            result.versions_written[spec.qualified_name] = version
        result.rows_out = len(rows)
        if ingested is not None:
            result.details["events_ingested"] = ingested.rows_out
            result.details["events_status"] = ingested.status
    return result


def earlier_summaries(ctx: JobContext, limit: int = 20) -> list[dict[str, Any]]:
    """The `all` and level rows of earlier evaluations, newest last (the report's comparison)."""
    spec = catalog.OPS_EVAL_RESULTS
    if ctx.lake.version(spec) is None:
        return []
    cols = [
        "eval_id",
        "scope",
        "level",
        "policy",
        "checkpoint",
        "prompt",
        "metrics_json",
        "started_at",
    ]
    table = ctx.lake.read(spec, columns=cols)
    rows = [r for r in table.to_pylist() if r["scope"] != "episode"]
    rows.sort(key=lambda r: (r["started_at"], r["eval_id"], r["level"]))
    ids = list(dict.fromkeys(r["eval_id"] for r in rows))[-limit:]
    return [
        {**r, "metrics": json.loads(r["metrics_json"]), "started_at": r["started_at"].isoformat()}
        for r in rows
        if r["eval_id"] in ids
    ]
