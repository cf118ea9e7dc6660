"""Helpers for the Spark layer tests: canonical runs as event dicts, and ingesting them through
the real ingest job (so bronze holds exactly what production would store)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from tracelake.jobs.context import JobContext
from tracelake.jobs.ingest import job as ingest_job

BASE_TS = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
TOOLS = [("WebFetch", "1.0"), ("Read", "1.2"), ("Summarizer", "2.0"), ("Write", "1.0")]


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_run(
    run_id: str,
    start: datetime,
    rng: random.Random,
    *,
    steps: int = 3,
    ending: str = "run_completed",
    with_error: bool = False,
) -> list[dict[str, Any]]:
    """One run's canonical events, in seq order. ending: run_completed, run_failed or None."""
    events: list[dict[str, Any]] = [
        {
            "event_type": "run_started",
            "goal": f"goal of {run_id}",
            "scenario": rng.choice(["research", "report", "triage"]),
            "scenario_level": rng.choice(["single_domain", "cross_domain", "novel"]),
            "mode": rng.choice(["EXECUTION", "SIMULATION"]),
            "input": orjson.dumps({"constraints": {"max_cost": 1.5}}).decode(),
        },
        {
            "event_type": "plan_created",
            "reasoning": f"plan for {run_id}: fetch then summarise",
            "output": orjson.dumps({"steps": steps}).decode(),
        },
    ]
    for i in range(steps):
        name, version = rng.choice(TOOLS)
        failed = with_error and i == 0
        events.append(
            {
                "event_type": "tool_call",
                "component_name": name,
                "component_kind": "tool",
                "component_version": version,
                "action": f"step {i}",
                "status": "error" if failed else "ok",
                "error": "HTTP 403" if failed else None,
                "error_type": "http_403" if failed else None,
                "latency_ms": round(rng.uniform(5, 900), 3),
                "tokens_in": rng.randint(0, 500),
                "tokens_out": rng.randint(0, 200),
                "cost_usd": round(rng.uniform(0, 0.02), 6),
            }
        )
        if failed:
            events.append({"event_type": "recovery", "action": "retry with fallback source"})
    events.append({"event_type": "learning_recorded", "output": f"learned something in {run_id}"})
    if ending:
        events.append({"event_type": ending, "output": f"answer of {run_id}"})
    out = []
    for seq, fields in enumerate(events):
        event = {
            "event_id": f"{run_id}-{seq:04d}",
            "run_id": run_id,
            "seq": seq,
            "ts": iso(start + timedelta(seconds=seq * 7, microseconds=seq * 1013)),
            "source": "spark-test",
        }
        event.update({k: v for k, v in fields.items() if v is not None})
        out.append(event)
    return out


def ingest_events(ctx: JobContext, directory: Path, events: list[dict[str, Any]], name: str):
    """Write events as canonical JSONL and ingest them; returns the ingest JobResult."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return ingest_job.run(ctx, [str(path)])


@pytest.fixture
def rng() -> random.Random:
    return random.Random(20260301)
