"""Row-level expectations on component_evolution examples: they are derived from
silver.component_evolution, not assembled from a run, so the gold.rejected job never sees them;
gold_examples filters them by gold.examples' contract itself and keeps gold.rejected's
`evolution_contract` rows equal to the evolutions that fail (re-derived whole whenever
silver.component_evolution moves)."""

from __future__ import annotations

import pyarrow as pa
import pytest
from gold_runs import recovery_run

from tracelake.jobs.gold import evolution, examples
from tracelake.jobs.lake import catalog
from tracelake.jobs.runner import run_job

from .test_gold import EVOLUTION, _other_sources, _silver_events

pytestmark = pytest.mark.spark
EVOLVED_ID = "evolution:WebFetcherTool@1.0.0->1.1.0:real"


def _stage_rows(ctx) -> list[dict]:
    rows = ctx.lake.read(catalog.GOLD_REJECTED).to_pylist()
    return [r for r in rows if r["stage"] == examples.EVOLUTION_CONTRACT_STAGE]


def _evolved_ids(ctx) -> set[str]:
    rows = ctx.lake.read(catalog.GOLD_EXAMPLES, columns=["run_id", "phase"]).to_pylist()
    return {r["run_id"] for r in rows if r["phase"] == evolution.PHASE}


def _move_evolution(ctx, population: str) -> None:
    """Another evolution row, so that silver.component_evolution moves and every evolution
    example is re-derived."""
    full = {f.name: None for f in catalog.SILVER_COMPONENT_EVOLUTION.schema}
    row = {**full, **EVOLUTION, "population": population, "verdict": "inconclusive"}
    ctx.lake.append(
        catalog.SILVER_COMPONENT_EVOLUTION,
        pa.Table.from_pylist([row], catalog.SILVER_COMPONENT_EVOLUTION.schema),
    )


def test_evolution_examples_failing_the_contract_go_to_rejected(ctx, tmp_path, monkeypatch):
    _silver_events(ctx, tmp_path, recovery_run(), "a")
    ctx.lake.ensure(catalog.SILVER_SYNTHETIC_EVENTS)
    _other_sources(ctx)
    result = run_job(ctx, examples.JOB)
    assert result.status == "succeeded"
    assert _evolved_ids(ctx) == {EVOLVED_ID}
    assert _stage_rows(ctx) == []

    # Plant: evolution examples come out with a level the contract's range forbids.
    derive = evolution.evolution_examples

    def out_of_range(*args, **kwargs):
        rows, skipped = derive(*args, **kwargs)
        return [{**r, "level": 7} for r in rows], skipped

    monkeypatch.setattr(evolution, "evolution_examples", out_of_range)
    _move_evolution(ctx, "synthetic")
    result = run_job(ctx, examples.JOB)
    assert result.status == "succeeded"
    assert result.details["evolutions_without_example"]["contract"] == 1
    assert _evolved_ids(ctx) == set()
    (reject,) = _stage_rows(ctx)
    assert reject["run_id"] == EVOLVED_ID
    assert reject["reason_code"] == "gold.examples.level.range"
    assert "7" in reject["reason"]

    # The same failure again writes nothing to gold.rejected (no second row, no commit).
    rejected_version = ctx.lake.version(catalog.GOLD_REJECTED)
    _move_evolution(ctx, "mixed")
    assert run_job(ctx, examples.JOB).status == "succeeded"
    assert ctx.lake.version(catalog.GOLD_REJECTED) == rejected_version

    # Fixed: the example is back and its rejected row gone.
    monkeypatch.setattr(evolution, "evolution_examples", derive)
    _move_evolution(ctx, "other")
    assert run_job(ctx, examples.JOB).status == "succeeded"
    assert _evolved_ids(ctx) == {EVOLVED_ID}
    assert _stage_rows(ctx) == []
