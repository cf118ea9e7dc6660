"""`tracelake show example RUN_ID`, the demo's closing example, and `tracelake feedback`
(appends a human judgement to ops.feedback)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from ..context import JobContext
from ..errors import ConfigError
from ..lake import catalog


def _rows(ctx: JobContext, spec: catalog.TableSpec, run_id: str | None) -> list[dict[str, Any]]:
    if ctx.lake.version(spec) is None:
        return []
    table = ctx.lake.read(spec)
    if run_id is not None:
        table = table.filter(pa.compute.equal(table["run_id"], run_id))
    return table.to_pylist()


def render_example(row: dict[str, Any], emit: Callable[[str], None]) -> None:
    """An example in both shapes: its four-part record, then its messages."""
    emit(
        f"run {row['run_id']}  phase {row['phase']}  split {row['split']}  "
        f"outcome {row['outcome']}  pattern {row['pattern'] or '-'}"
    )
    emit("-- record --")
    emit(json.dumps(json.loads(row["record"]), indent=2, ensure_ascii=False))
    emit("-- messages --")
    for m in row["messages"]:
        head = f"[{m['role']}{' ' + m['name'] if m.get('name') else ''}] weight {m['weight']:g}"
        emit(head)
        if m.get("reasoning"):
            emit(f"  (reasoning) {m['reasoning']}")
        if m.get("content"):
            emit(f"  {m['content']}")
        for call in m.get("tool_calls") or []:
            emit(f"  -> {call['function']['name']}({call['function']['arguments']})")
    emit(f"-- tools: {', '.join(t['function']['name'] for t in json.loads(row['tools']))}")


def show_example(ctx: JobContext, run_id: str, emit: Callable[[str], None]) -> None:
    rows = _rows(ctx, catalog.GOLD_EXAMPLES, run_id)
    if rows:
        render_example(rows[0], emit)
        return
    rejected = _rows(ctx, catalog.GOLD_REJECTED, run_id)
    if rejected:
        for r in rejected:
            emit(f"run {run_id} was rejected at {r['stage']}: {r['reason_code']} ({r['reason']})")
        return
    raise ConfigError(
        f"run {run_id!r} is neither in gold.examples nor in gold.rejected; "
        'check the id (`tracelake sql "SELECT run_id FROM gold_examples"`) or run `tracelake build`'
    )


def demo_example(ctx: JobContext, emit: Callable[[str], None]) -> None:
    """The demo's last step: one example, preferably one that recovered from a failure."""
    rows = _rows(ctx, catalog.GOLD_EXAMPLES, None)
    if not rows:
        emit("no training example yet (see gold.rejected for why)")
        return
    rows.sort(key=lambda r: (r["outcome"] != "success_with_recovery", r["run_id"]))
    render_example(rows[0], emit)


def record_feedback(
    ctx: JobContext,
    *,
    run_id: str,
    annotator: str,
    over: str | None = None,
    rating: float | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """Append one human judgement: `run_id` preferred `over` another run, or `rating` of it."""
    if (over is None) == (rating is None):
        raise ConfigError("give exactly one of --over RUN_ID (a preference) or --rating 0..1")
    if rating is not None and not 0.0 <= rating <= 1.0:
        raise ConfigError(f"--rating must be between 0 and 1, got {rating}")
    if over == run_id:
        raise ConfigError("a run cannot be preferred over itself")
    if not annotator.strip():
        raise ConfigError("--annotator must name who judged")
    row = {
        "feedback_id": uuid.uuid4().hex,
        "kind": "preference" if over else "rating",
        "run_id": run_id,
        "other_run_id": over,
        "rating": rating,
        "annotator": annotator,
        "recorded_at": datetime.now(UTC).isoformat(),
        "note": note,
    }
    ctx.lake.append(
        catalog.OPS_FEEDBACK,
        pa.Table.from_pylist([row], catalog.OPS_FEEDBACK.schema),
        metadata={"job": "feedback"},
    )
    return row
