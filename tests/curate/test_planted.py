"""Ground truth from the simulator: runs planted as exact and near copies at known rates (the
truth in their `run_started` attributes) are found by curation at measured precision and
recall."""

from __future__ import annotations

import numpy as np

from tracelake.jobs.curate.dedup import CurateConfig, History, curate_batch
from tracelake.jobs.gold.assemble import RunFacts, assemble
from tracelake.jobs.simulate.plant import DUPLICATE_KIND, DUPLICATE_OF, plant_duplicates
from tracelake.jobs.simulate.runs import generate_runs
from tracelake.schemas.curation import DUPLICATE_EXACT, DUPLICATE_NEAR, KEPT

SEED = 20260108


def test_planted_copies_are_found_against_the_recorded_truth():
    runs = list(plant_duplicates(generate_runs(SEED, None), 400, SEED, 0.1, 0.1))
    assert len(runs) == 400
    truth = {
        r[0]["run_id"]: (r[0]["attributes"][DUPLICATE_OF], r[0]["attributes"][DUPLICATE_KIND])
        for r in runs
        if DUPLICATE_OF in (r[0].get("attributes") or {})
    }
    kinds = [k for _, k in truth.values()]
    assert 25 <= kinds.count("exact") <= 50 and 25 <= kinds.count("near") <= 50  # ~10% each

    examples = [e for e in (assemble(r, RunFacts()).example for r in runs) if e is not None]
    config = CurateConfig()
    history = History(
        signatures=np.zeros((0, config.minhash.num_hashes), dtype=np.uint32),
        band_keys=np.zeros((0, config.minhash.bands), dtype=np.uint64),
    )
    result = curate_batch(examples, history, config, None)
    by_run = {v.run_id: v for v in result.verdicts}
    cluster = {v.run_id: v.cluster_id or v.example_id for v in result.verdicts}
    pairs = [(c, o, k) for c, (o, k) in truth.items() if c in by_run and o in by_run]
    assert len(pairs) >= 0.9 * len(truth)

    # recall: the copy and its original end in one cluster (one of them dropped)
    found = [(c, o, k) for c, o, k in pairs if cluster[c] == cluster[o]]
    for kind in ("exact", "near"):
        of_kind = [p for p in pairs if p[2] == kind]
        assert len([p for p in found if p[2] == kind]) / len(of_kind) >= 0.9, kind
    # an exact copy of a kept original goes by the exact rule (else the original, if the copy
    # sorts first, or the copy joins whatever near cluster took the original)
    assert all(
        by_run[c].verdict == DUPLICATE_EXACT
        for c, o, k in found
        if k == "exact" and by_run[o].verdict == KEPT
    )
    # precision on planted pairs: of the copies the stage merged, the share merged into their
    # original's cluster (not into some other run's)
    merged = [(c, o) for c, o, _ in pairs if by_run[c].verdict in (DUPLICATE_EXACT, DUPLICATE_NEAR)]
    assert sum(cluster[c] == cluster[o] for c, o in merged) / len(merged) >= 0.95


def test_the_simulate_job_plants_copies_with_the_truth_in_the_lines(ctx, tmp_path):
    import orjson

    from tracelake.jobs.simulate import job as simulate_job

    result = simulate_job.run(
        ctx,
        runs=80,
        seed=SEED,
        out=str(tmp_path),
        exact_duplicate_rate=0.2,
        near_duplicate_rate=0.2,
    )
    planted = result.details["planted"]
    assert planted["exact"] >= 5 and planted["near"] >= 5 and result.details["runs"] == 80
    events = [orjson.loads(line) for f in sorted(tmp_path.glob("*.jsonl")) for line in f.open("rb")]
    starts = {e["run_id"]: e for e in events if e["event_type"] == "run_started"}
    copies = [e for e in starts.values() if DUPLICATE_OF in (e["attributes"] or {})]
    assert len(copies) == planted["exact"] + planted["near"]
    assert all(e["attributes"][DUPLICATE_OF] in starts for e in copies)
    # event ids stay unique: a copy is a new run to ingestion
    assert len({e["event_id"] for e in events}) == len(events)
