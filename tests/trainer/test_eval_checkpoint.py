"""The trainer's SFT smoke checkpoint evaluated end to end by the workflow benchmark: loaded as a
model directory, played batched (greedy and sampled) through the shared episode loop, stored in
ops.eval_results with its episodes as events."""

from __future__ import annotations

import json

from tracelake.jobs.context import JobContext
from tracelake.jobs.evaluation.job import make_policy, manifest_of, phase_checkpoints, run_eval
from tracelake.jobs.evaluation.runner import EvalOptions, evaluate
from tracelake.jobs.lake import catalog
from tracelake.jobs.settings import Settings


def test_the_smoke_checkpoint_is_evaluated_end_to_end(sft_smoke, tmp_path):
    record, out_dir = sft_smoke
    assert phase_checkpoints(out_dir) == [out_dir]
    pipeline = tmp_path / "pipeline"  # a pipeline run: one checkpoint per phase
    pipeline.mkdir()
    for phase in ("constitutional", "sft", "dpo"):
        (pipeline / phase).symlink_to(out_dir, target_is_directory=True)
    assert [p.name for p in phase_checkpoints(pipeline)] == ["sft", "dpo", "constitutional"]
    policy = make_policy(str(out_dir), max_new_tokens=24)
    assert policy.checkpoint == str(out_dir.resolve()) and manifest_of(policy) == record.manifest
    options = EvalOptions(tasks_per_level=2, memory_sequence=1, extra_turns=0, batch_size=6)
    ctx = JobContext.create(Settings(lake_root=str(tmp_path / "lake")))
    run, written = run_eval(ctx, policy, options, report=False)
    main = [r for r in run.records if not r["memory"]]
    assert len(main) == 6 and {r["level"] for r in main} == {1, 2, 3}
    assert all(r["turns"] >= 1 for r in run.records)
    assert run.summary["all"]["completion"] is not None
    rows = ctx.lake.read(catalog.OPS_EVAL_RESULTS).to_pylist()
    assert {r["policy"] for r in rows} == {"model"} and rows[0]["manifest"] == record.manifest
    assert written["events"] and written["events"] > 0
    # greedy is deterministic; sampling is seeded
    again = evaluate(make_policy(str(out_dir), max_new_tokens=24), options)
    assert [r["messages"] for r in again.records] == [r["messages"] for r in run.records]
    sampled = make_policy(str(out_dir), max_new_tokens=24, sample=True, seed=3)
    a = evaluate(sampled, options)
    b = evaluate(make_policy(str(out_dir), max_new_tokens=24, sample=True, seed=3), options)
    assert json.dumps([r["messages"] for r in a.records]) == json.dumps(
        [r["messages"] for r in b.records]
    )
