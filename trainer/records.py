"""The run record and model card written next to every checkpoint.

The trainer never touches the lake: `run_record.json` is the hand-over, and a lake job appends it
to `ops.train_runs` (run by the train DAG and by `tracelake train`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RUN_RECORD = "run_record.json"
MODEL_CARD = "README.md"


@dataclass
class Throughput:
    """Counted during training; real tokens exclude padding."""

    real_tokens: int = 0
    capacity_tokens: int = 0
    supervised_tokens: int = 0
    seconds: float = 0.0
    sum_len_sq: int = 0  # sum(len^2) of packed documents, for the attention term of MFU
    sum_len: int = 0

    def add(self, lengths: list[int], capacity: int, supervised: int) -> None:
        self.real_tokens += sum(lengths)
        self.capacity_tokens += capacity
        self.supervised_tokens += supervised
        self.sum_len_sq += sum(n * n for n in lengths)
        self.sum_len += sum(lengths)

    @property
    def tokens_per_s(self) -> float:
        return self.real_tokens / self.seconds if self.seconds > 0 else 0.0

    def mfu(
        self, matmul_params: int, layers: int, hidden: int, peak_flops: float | None
    ) -> float | None:
        """tokens/s x (6N + 12 L d T_eff) / peak, T_eff = sum(len^2) / sum(len)."""
        if not peak_flops or self.sum_len == 0:
            return None
        t_eff = self.sum_len_sq / self.sum_len
        return self.tokens_per_s * (6 * matmul_params + 12 * layers * hidden * t_eff) / peak_flops


@dataclass
class RunRecord:
    recipe: str
    manifest: str
    dataset: str
    build_id: str
    config_hash: str
    checkpoint_uri: str
    options: dict[str, Any]
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    ended_at: str | None = None
    status: str = "running"
    world_size: int = 1
    steps: int = 0
    examples: int = 0
    rejected: int = 0
    truncated: int = 0
    tokens_per_s: float = 0.0
    mfu: float | None = None
    padding_pct: float = 0.0  # pad tokens among computed tokens
    pack_fill_pct: float = 0.0  # real tokens / row capacity
    truncation_pct: float = 0.0
    supervised_pct: float = 0.0
    loss_first: float | None = None
    loss_last: float | None = None
    loss_min: float | None = None
    loss_curve: list[float] = field(default_factory=list)  # every Nth step, for plots
    eval: dict[str, float] = field(default_factory=dict)
    reload_check: dict[str, Any] = field(default_factory=dict)
    rejected_reasons: dict[str, int] = field(default_factory=dict)
    parameters: dict[str, int] = field(default_factory=dict)

    def summarise_losses(self, losses: list[float], points: int = 20) -> None:
        if not losses:
            return
        self.loss_first, self.loss_last, self.loss_min = losses[0], losses[-1], min(losses)
        stride = max(1, len(losses) // points)
        self.loss_curve = [round(x, 5) for x in losses[::stride]]

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def write_run_files(record: RunRecord, out_dir: str | Path) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / RUN_RECORD
    path.write_text(json.dumps(record.to_dict(), indent=2, default=str))
    (out / MODEL_CARD).write_text(model_card(record))
    return path


def read_run_record(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if p.is_dir():
        p = p / RUN_RECORD
    return json.loads(p.read_text())


def model_card(record: RunRecord) -> str:
    evals = "\n".join(f"- {k}: {v:.4f}" for k, v in sorted(record.eval.items())) or "- none"
    return f"""# tracelake {record.recipe} checkpoint

Trained by tracelake's `{record.recipe}` recipe on the `{record.dataset}` export, build
`{record.build_id}` (manifest `{record.manifest}`), config hash `{record.config_hash}`.

## Data
- examples: {record.examples}; rejected: {record.rejected}
- truncated at a turn boundary: {record.truncated}
- supervised tokens: {record.supervised_pct:.1f}% of real tokens; padding: {record.padding_pct:.2f}%

## Training
- steps: {record.steps}; world size: {record.world_size}; real tokens/s: {record.tokens_per_s:.1f}
- loss: first {record.loss_first}, last {record.loss_last}, min {record.loss_min}

## Evaluation
{evals}

## Intended use and limits
An agent-workflow model trained on tracelake exports. The figures above come from the held-out
split of the same export, not from an independent benchmark.
"""
