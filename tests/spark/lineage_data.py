"""Simulated runs for the lineage and pattern tests: the hidden truth (planted patterns and
component evolutions) is read from the generator's `sim.*` attributes and events, then every
`sim.*` attribute is stripped before ingest, so the jobs never see it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tracelake.jobs.context import JobContext
from tracelake.jobs.ingest import job as ingest_job
from tracelake.jobs.ingest.component_names import normalise_version
from tracelake.jobs.silver.component_identity import identify
from tracelake.jobs.simulate.runs import generate_runs

Event = dict[str, Any]


@dataclass
class Truth:
    pattern_of_run: dict[str, str] = field(default_factory=dict)
    # (canonical component, from version, to version) of every component_evolved event
    transitions: set[tuple[str, str, str]] = field(default_factory=set)


def simulate(seed: int, runs: int) -> tuple[list[list[Event]], Truth]:
    truth = Truth()
    out = []
    for run in generate_runs(seed, runs):
        for e in run:
            if e["event_type"] == "run_started":
                truth.pattern_of_run[e["run_id"]] = e["attributes"]["sim.pattern"]
            if e["event_type"] == "component_evolved":
                ident = identify(e["component_name"], e["component_kind"])
                truth.transitions.add(
                    (
                        ident.component,
                        normalise_version(e["attributes"]["old_version"]),
                        normalise_version(e["attributes"]["new_version"]),
                    )
                )
        out.append(run)
    return out, truth


def strip_truth(events: list[Event]) -> list[Event]:
    """Copies without any `sim.*` attribute."""
    return [
        {**e, "attributes": {k: v for k, v in e["attributes"].items() if not k.startswith("sim.")}}
        for e in events
    ]


def ingest(ctx: JobContext, directory: Path, events: list[Event], name: str):
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    result = ingest_job.run(ctx, [str(path)])
    assert result.status in ("succeeded", "noop"), result.message
    return result
