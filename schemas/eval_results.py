"""`ops.eval_results`: the workflow benchmark's results, appended by `tracelake eval`.

One row per episode (`scope = episode`), plus one row per level (`level`) and one for the whole
evaluation (`all`) whose `metrics_json` holds that scope's metrics (docs/evaluation.md).
"""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from .arrow import model_fields_to_arrow

SCOPES = ("episode", "level", "all")


class EvalResult(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    row_id: str = Field(description="Hash of eval id, scope, level, task, trial and memory.")
    eval_id: str = Field(description="One evaluation (one `tracelake eval`).")
    scope: str = Field(description="episode, level or all.")
    policy: str = Field(description="oracle, random, replay, model or endpoint.")
    checkpoint: str = Field(description="Model directory or endpoint (no secrets); '-' if none.")
    manifest: str = Field(description="Export manifest the checkpoint was trained on; '-'.")
    prompt: str = Field(description="Prompting mode: goal or framework.")
    taskset: str = Field(description="Held-out task set version (v1).")
    level: int = Field(ge=0, le=3, description="1-3; 0 on the `all` row.")
    task_id: str | None = Field(default=None, description="Held-out task (episode rows).")
    family: str | None = Field(default=None, description="Task family (episode rows).")
    trial: int = Field(ge=0, description="Trial number (episode rows; 0 otherwise).")
    memory: bool = Field(description="Played with memory of past runs (learning-speed runs).")
    success: bool | None = Field(default=None, description="Episode completed (episode rows).")
    run_id: str | None = Field(default=None, description="The episode's run id in the events.")
    metrics_json: str = Field(description="JSON: the episode's figures or the scope's metrics.")
    options_json: str = Field(description="JSON: the evaluation's options.")
    started_at: datetime = Field(description="When the evaluation started, UTC.")
    recorded_at: datetime = Field(description="When this row was appended, UTC.")


EVAL_RESULTS_SCHEMA = pa.schema(model_fields_to_arrow(EvalResult))
