"""A small lake whose gold tables satisfy every rule their contracts generate: gold.examples
with valid records, the silver.runs they refer to, and the export's pair tables."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest
from trainer_fixture import TOOLS, conversation

from tracelake.jobs.context import JobContext
from tracelake.jobs.lake import catalog

PHASES = ("orchestration", "component_evolution", "transfer")
SPLITS = ("train", "train", "validation", "test")
# Record fields left null in every fixture record (their contract bound is 1.0).
NULL_FIELDS = ["input.constraints", "reasoning.goal_analysis", "learning.pattern_generalization"]


def _record(goal: str) -> str:
    return json.dumps(
        {
            "input": {
                "goal": goal,
                "context": {"available_components": ["read_file@1"], "past_experiences": []},
                "constraints": None,
            },
            "reasoning": {
                "goal_analysis": None,
                "component_selection": ["read_file: reads the file"],
                "workflow_design": "read, then answer",
                "adaptation_logic": None,
            },
            "execution": {"steps": []},
            "learning": {
                "success_factors": ["read before answering"],
                "optimization_opportunities": None,
                "pattern_generalization": None,
            },
        }
    )


def example_rows(n: int, seed: int = 11) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        messages, target = conversation(rng)
        phase = PHASES[i % 3]
        family = i % 8
        rows.append(
            {
                "example_id": f"ex-{i:04d}",
                "run_id": f"evolution:c{i}" if phase == "component_evolution" else f"run-{i:04d}",
                "seed_run_id": "run-0000" if i % 5 == 4 else None,
                "synthetic": i % 5 == 4,
                "phase": phase,
                "level": 1 + i % 3,
                "scenario": f"scenario-{family}",
                "pattern": "sequential",
                "outcome": ("success", "success_with_recovery", "failure")[i % 3],
                "goal": f"work on {target}",
                "goal_signature": f"sig-{family}",
                "family_key": f"fam-{family}",
                "split": SPLITS[family % 4],  # a family stays in one split
                "record": _record(f"work on {target}"),
                "messages": messages,
                "tools": json.dumps(TOOLS),
                "n_tool_calls": 1,
                "steps": 2,
                "errors": 0,
                "cost_usd": 0.01,
                "null_fields": NULL_FIELDS,
                "event_ids": [f"ev-{i}-0"],
                "source_versions": "{}",
                "assembler_version": 1,
            }
        )
    return rows


def strict_tools() -> str:
    """The fixture's tools with no parameters (any argument is unknown): JSON for `tools`."""
    return json.dumps(
        [
            {
                "type": "function",
                "function": {
                    "name": tool["function"]["name"],
                    "parameters": {
                        "type": "object",
                        "properties": {},
                        "additionalProperties": False,
                    },
                },
            }
            for tool in TOOLS
        ]
    )


def _zero(field: pa.Field) -> Any:
    t = field.type
    if pa.types.is_string(t):
        return ""
    if pa.types.is_integer(t):
        return 1
    if pa.types.is_floating(t):
        return 0.0
    if pa.types.is_boolean(t):
        return False
    if pa.types.is_timestamp(t):
        return datetime(2026, 1, 1, tzinfo=UTC)
    if pa.types.is_list(t):
        return []
    return None


def runs_rows(run_ids: list[str]) -> list[dict[str, Any]]:
    """silver.runs rows: only run_id matters to the gates; the rest is schema-valid filler."""
    schema = catalog.SILVER_RUNS.schema
    filler = {f.name: None if f.nullable else _zero(f) for f in schema}
    return [{**filler, "run_id": r, "outcome": "success"} for r in run_ids]


def append(ctx: JobContext, table: str, rows: list[dict[str, Any]]) -> int:
    spec = catalog.get(table)
    version = ctx.lake.append(spec, pa.Table.from_pylist(rows, schema=spec.schema))
    assert version is not None
    return version


def index_rows(examples: list[dict[str, Any]], copies: int = 0) -> list[dict[str, Any]]:
    """gold.dedup_index rows for the examples: every third one a dropped exact duplicate of the
    one before it (same content hash); the others kept with hashes of their own, except that
    the last `copies` kept ones repeat the first kept one's hash (a duplicate curation missed)."""
    rows = []
    for i, example in enumerate(examples):
        dropped = i % 3 == 2
        rows.append(
            {
                "example_id": example["example_id"],
                "run_id": example["run_id"],
                "split": example["split"],
                "verdict": "duplicate_exact" if dropped else "kept",
                "cluster_id": examples[i - 1]["example_id"] if dropped else example["example_id"],
                "content_hash": f"h{i - 1 if dropped else i}",
                "signature": None,
                "band_keys": None,
                "detail": None,
                "flags": [],
                "batch_version": 0,
            }
        )
    kept = [r for r in rows if r["verdict"] == "kept"]
    for row in kept[len(kept) - copies :] if copies else []:
        row["content_hash"] = kept[0]["content_hash"]
    return rows


def write_gated_lake(
    ctx: JobContext,
    examples: list[dict[str, Any]],
    run_ids: list[str] | None = None,
    copies: int = 0,
) -> None:
    """The gold tables, curation's index (`copies`: see index_rows) and silver.runs (by default
    every run the examples name)."""
    from export.conftest import constitutional_rows, pair_rows

    if run_ids is None:
        run_ids = [r["run_id"] for r in examples if r["run_id"].startswith("run-")]
    append(ctx, "silver.runs", runs_rows(sorted(set(run_ids))))
    append(ctx, "gold.examples", examples)
    append(ctx, "gold.dedup_index", index_rows(examples, copies))
    append(ctx, "gold.preferences", pair_rows(12))
    append(ctx, "gold.constitutional_pairs", constitutional_rows(12))


@pytest.fixture
def gated_ctx(ctx: JobContext) -> JobContext:
    write_gated_lake(ctx, example_rows(36))
    return ctx
