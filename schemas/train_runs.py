"""`ops.train_runs`: one row per training run, from the run record the trainer writes.

The trainer writes `run_record.json` next to its checkpoint and never touches the lake; the
`record_train_run` job reads that file and appends this row.
"""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from .arrow import model_fields_to_arrow


class TrainRun(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str = Field(description="The training run (from its run record).")
    recipe: str = Field(description="sft, dpo, constitutional, grpo or a pipeline phase.")
    manifest: str = Field(description="Export manifest URI the run read ('environment': GRPO).")
    dataset: str = Field(description="Exported dataset name.")
    build_id: str = Field(description="Export build id.")
    config_hash: str = Field(description="Hash of the recipe options.")
    checkpoint_uri: str = Field(description="Where the checkpoint and run record are.")
    status: str = Field(description="succeeded, diverged or failed.")
    started_at: datetime = Field(description="Start, UTC.")
    ended_at: datetime | None = Field(default=None, description="End, UTC.")
    world_size: int = Field(ge=1, description="Processes that trained.")
    steps: int = Field(ge=0, description="Optimizer steps.")
    tokens_per_s: float = Field(ge=0, description="Real (non-pad) tokens per second.")
    mfu: float | None = Field(default=None, description="Model FLOPs utilisation, 0-1.")
    padding_pct: float = Field(ge=0, description="Padding share of packed capacity, %.")
    truncation_pct: float = Field(ge=0, description="Examples cut at a turn boundary, %.")
    supervised_pct: float = Field(ge=0, description="Supervised share of real tokens, %.")
    loss_first: float | None = Field(default=None, description="First step's loss.")
    loss_last: float | None = Field(default=None, description="Last step's loss.")
    eval_json: str = Field(default="{}", description="JSON: held-out figures of the run.")
    record_json: str = Field(description="The full run record as JSON.")
    recorded_at: datetime = Field(description="When this row was appended, UTC.")


TRAIN_RUNS_SCHEMA = pa.schema(model_fields_to_arrow(TrainRun))
