"""A small export in the manifest's layout, with the columns the gold tables define.

Conversations are generated from a few task families with varying arguments, so a tiny model
can learn their structure in a few dozen steps. Written through a pyarrow filesystem, so the same
code writes the fixture to local disk and to the S3 test server.
"""

from __future__ import annotations

import json
import random
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs

from tracelake.jobs.export.shards import ShardOptions, counts_of, upload, write_split
from tracelake.schemas.manifest import MANIFEST_NAME, ColumnSpec, Manifest, SplitEntry

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a text file from the workspace.",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string"}},
                "required": ["path"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "search_docs",
            "description": "Search the documentation.",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
                "required": ["query"],
            },
        },
    },
]
FILES = ["notes.txt", "report.md", "data.csv", "plan.txt", "todo.md", "log.txt"]
TOPICS = ["refunds", "billing", "shipping", "returns", "accounts", "invoices"]

TOOL_CALL_TYPE = pa.struct(
    [
        ("id", pa.string()),
        ("type", pa.string()),
        ("function", pa.struct([("name", pa.string()), ("arguments", pa.string())])),
    ]
)
MESSAGE_TYPE = pa.struct(
    [
        ("role", pa.string()),
        ("content", pa.string()),
        ("reasoning", pa.string()),
        ("name", pa.string()),
        ("tool_calls", pa.list_(TOOL_CALL_TYPE)),
        ("weight", pa.float64()),
    ]
)
MESSAGES = pa.list_(MESSAGE_TYPE)


def _msg(role: str, content: str = "", **extra: Any) -> dict[str, Any]:
    base = {"role": role, "content": content, "reasoning": None, "name": None}
    base.update({"tool_calls": None, "weight": None})
    base.update(extra)
    return base


def _call(name: str, arguments: dict[str, Any], call_id: str) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments, sort_keys=True)},
    }


def conversation(rng: random.Random, recover: bool = False) -> tuple[list[dict], str]:
    """One run: system, user goal, assistant call(s), tool observation(s), final answer."""
    if rng.random() < 0.5:
        target = rng.choice(FILES)
        goal = f"Summarise the file {target}."
        tool, args, obs = "read_file", {"path": target}, f"contents of {target}: three short lines"
        answer = f"The file {target} has three short lines."
    else:
        target = rng.choice(TOPICS)
        goal = f"Find the policy about {target}."
        tool, args = "search_docs", {"query": target, "limit": 3}
        obs, answer = (
            f"policy {target}: allowed within 30 days",
            f"The {target} policy allows 30 days.",
        )
    messages = [
        _msg("system", "You are an agent. Use the tools, then answer."),
        _msg("user", goal),
    ]
    if recover:
        bad = dict(args, path="missing.txt") if tool == "read_file" else dict(args, limit=-1)
        messages += [
            _msg(
                "assistant",
                "",
                reasoning="Try the call.",
                tool_calls=[_call(tool, bad, "c0")],
                weight=0.0,
            ),
            _msg("tool", "error: invalid argument", name=tool),
        ]
    messages += [
        _msg(
            "assistant",
            "",
            reasoning=f"I will use {tool} for {target}.",
            tool_calls=[_call(tool, args, "c1")],
            weight=1.0,
        ),
        _msg("tool", obs, name=tool),
        _msg("assistant", answer, reasoning="I have what I need.", weight=1.0),
    ]
    return messages, target


def sft_rows(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    phases = ["orchestration", "component_evolution", "transfer"]
    rows = []
    for i in range(n):
        messages, _target = conversation(rng, recover=(i % 7 == 3))
        split = "validation" if i % 5 == 4 else "train"
        rows.append(
            {
                "example_id": f"ex-{i:05d}",
                "run_id": f"run-{i:05d}",
                "seed_run_id": f"run-{i - i % 3:05d}",
                "event_ids": [f"ev-{i}-{j}" for j in range(3)],
                "messages": messages,
                "tools": json.dumps(TOOLS),
                "phase": phases[i % 3],
                "level": 1 + i % 3,
                "pattern": "recovery" if i % 7 == 3 else "sequential",
                "split": split,
            }
        )
    return rows


def preference_rows(n: int, seed: int, constitutional: bool = False) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        messages, target = conversation(rng)
        prompt, chosen = messages[:2], messages[2:]
        rejected = [
            _msg(
                "assistant",
                f"I cannot help with {target}.",
                reasoning="Skip the tools.",
                weight=1.0,
            )
        ]
        row = {
            "pair_id": f"pair-{i:05d}",
            "prompt": prompt,
            "chosen": chosen,
            "rejected": rejected,
            "tools": json.dumps(TOOLS),
            "reason": "completed_vs_failed",
            "margin": 1.0,
            "chosen_run_id": f"run-{i:05d}a",
            "rejected_run_id": f"run-{i:05d}b",
            "split": "validation" if i % 5 == 4 else "train",
        }
        if constitutional:
            rule = "verify_before_final"
            row["rule"] = rule
            row["critique_messages"] = [
                *prompt,
                *rejected,
                _msg("user", "Which operational rule did this trajectory break, and why?"),
                _msg(
                    "assistant", f"It broke {rule}: it answered without calling a tool.", weight=1.0
                ),
            ]
        rows.append(row)
    return rows


def _table(rows: list[dict[str, Any]]) -> pa.Table:
    fields = []
    for name in rows[0]:
        if name in {"messages", "prompt", "chosen", "rejected", "critique_messages"}:
            fields.append(pa.field(name, MESSAGES))
        elif name == "event_ids":
            fields.append(pa.field(name, pa.list_(pa.string())))
        elif name in {"level"}:
            fields.append(pa.field(name, pa.int32()))
        elif name == "margin":
            fields.append(pa.field(name, pa.float64()))
        else:
            fields.append(pa.field(name, pa.string()))
    return pa.Table.from_pylist(rows, schema=pa.schema(fields))


def write_export(
    root: str,
    dataset: str,
    rows: list[dict[str, Any]],
    build_id: str = "b0001",
    shards_per_split: int = 2,
    filesystem: pafs.FileSystem | None = None,
) -> str:
    """Write shards then the manifest (last) with the exporter's own shard writer and upload
    (jobs/export/shards.py); returns the manifest's path inside `filesystem`."""
    fs = filesystem or pafs.LocalFileSystem()
    base = f"{root.rstrip('/')}/{dataset}/{build_id}"
    table = _table(rows)
    splits: dict[str, SplitEntry] = {}
    with tempfile.TemporaryDirectory(prefix="fixture-export-") as local:
        for split in sorted({r["split"] for r in rows}):
            part = table.filter(pc.equal(table["split"], split))
            per_shard = -(-part.num_rows // min(shards_per_split, part.num_rows))
            options = ShardOptions(shard_bytes=1 << 20, rows_per_shard=per_shard)
            splits[split] = write_split(part, split, Path(local), options)
        manifest = Manifest(
            dataset=dataset,
            build_id=build_id,
            created_at=datetime(2026, 1, 1, tzinfo=UTC),
            source_table_versions={"gold.examples": 3},
            contract_ids=[f"gold_{dataset}.yaml@1"],
            gate_result_ids=["gate-0001"],
            code_version="test",
            schema=[
                ColumnSpec(name=f.name, type=str(f.type), nullable=f.nullable) for f in table.schema
            ],
            splits=splits,
            counts=counts_of(table),
        )
        upload(Path(local), fs, base, manifest)
    return f"{base}/{MANIFEST_NAME}"


def write_all(root: str, n_sft: int = 240, n_pairs: int = 40, seed: int = 7) -> dict[str, str]:
    return {
        "sft": write_export(root, "sft", sft_rows(n_sft, seed)),
        "dpo": write_export(root, "dpo", preference_rows(n_pairs, seed + 1)),
        "constitutional": write_export(
            root, "constitutional", preference_rows(n_pairs, seed + 2, constitutional=True)
        ),
    }
