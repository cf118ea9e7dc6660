"""Gold tables for the export tests: real Delta tables written through the lake API (no Spark),
with the gold schemas and rows shaped like the gold jobs' (conversations from trainer_fixture)."""

from __future__ import annotations

import json
import random
from typing import Any

import pyarrow as pa
import pytest
from trainer_fixture import TOOLS, conversation, preference_rows

from tracelake.jobs.context import JobContext
from tracelake.jobs.lake import catalog

PHASES = ("orchestration", "component_evolution", "transfer")
PATTERNS = ("sequential", "recovery", "parallel")


def _split(i: int) -> str:
    return ("train", "train", "train", "validation", "test")[i % 5]


def example_rows(n: int, seed: int = 3, pad: int = 0) -> list[dict[str, Any]]:
    """gold.examples rows; `pad` adds that many characters of goal text (bigger rows)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        messages, target = conversation(rng, recover=(i % 7 == 3))
        rows.append(
            {
                "example_id": f"ex-{i:06d}",
                "run_id": f"run-{i:06d}",
                "seed_run_id": None if i % 4 else f"run-{i:06d}",
                "synthetic": i % 4 != 0,
                "phase": PHASES[i % 3],
                "level": 1 + i % 3,
                "scenario": f"scenario-{i % 5}",
                "pattern": PATTERNS[i % 3],
                "outcome": "success",
                "goal": f"work on {target} " + "".join(rng.choice("abcdefgh ") for _ in range(pad)),
                "goal_signature": f"sig-{i % 11}",
                "family_key": f"fam-{i % 13}",
                "split": _split(i),
                "record": json.dumps({"input": {"goal": target}}),
                "messages": messages,
                "tools": json.dumps(TOOLS),
                "n_tool_calls": 1,
                "steps": 1,
                "errors": 0,
                "cost_usd": 0.01 * i,
                "null_fields": [],
                "event_ids": [f"ev-{i}-{j}" for j in range(3)],
                "source_versions": "{}",
                "assembler_version": 1,
            }
        )
    return rows


def pair_rows(n: int, seed: int = 4) -> list[dict[str, Any]]:
    rows = []
    for i, r in enumerate(preference_rows(n, seed)):
        rows.append(
            {
                **{k: r[k] for k in ("pair_id", "prompt", "chosen", "rejected", "tools")},
                "source": "rule",
                "reason": r["reason"],
                "margin": r["margin"],
                "prefix_turns": 0,
                "chosen_run_id": r["chosen_run_id"],
                "rejected_run_id": r["rejected_run_id"],
                "chosen_event_ids": ["e1"],
                "rejected_event_ids": ["e2"],
                "seed_run_id": None,
                "feedback_id": None,
                "annotator": None,
                "split": _split(i),
            }
        )
    return rows


def constitutional_rows(n: int, seed: int = 5) -> list[dict[str, Any]]:
    rows = []
    for i, r in enumerate(preference_rows(n, seed, constitutional=True)):
        rows.append(
            {
                **{k: r[k] for k in ("pair_id", "prompt", "chosen", "rejected", "tools")},
                "rule": r["rule"],
                "critique": "answered without calling a tool",
                "critique_messages": r["critique_messages"],
                "violating_run_id": r["rejected_run_id"],
                "compliant_run_id": r["chosen_run_id"],
                "compliant_source": "sibling",
                "seed_run_id": None,
                "split": _split(i),
            }
        )
    return rows


def append(ctx: JobContext, table: str, rows: list[dict[str, Any]]) -> int:
    spec = catalog.get(table)
    version = ctx.lake.append(spec, pa.Table.from_pylist(rows, schema=spec.schema))
    assert version is not None
    return version


def write_gold(ctx: JobContext, n_examples: int = 300, n_pairs: int = 60, pad: int = 0) -> None:
    append(ctx, "gold.examples", example_rows(n_examples, pad=pad))
    append(ctx, "gold.preferences", pair_rows(n_pairs))
    append(ctx, "gold.constitutional_pairs", constitutional_rows(n_pairs))


@pytest.fixture
def gold_ctx(ctx: JobContext) -> JobContext:
    """A local lake holding the three gold tables; small shards so splits have several."""
    write_gold(ctx, n_examples=2000, pad=300)
    ctx.settings.export.shard_bytes = 256 * 1024
    return ctx
