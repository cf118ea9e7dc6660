"""The trace simulator: determinism, schema validity, per-run plausibility, the behaviour that
later jobs rely on (failures and recoveries, evolution with fewer errors afterwards), and
corruption that canonical ingest must quarantine while storing the good lines."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from itertools import islice
from pathlib import Path

import orjson
import pytest

from tracelake.jobs.errors import TracelakeError
from tracelake.jobs.ingest import job as ingest_job
from tracelake.jobs.lake import catalog
from tracelake.jobs.simulate import job as simulate_job
from tracelake.jobs.simulate.corrupt import CORRUPTION_KINDS
from tracelake.jobs.simulate.runs import generate_runs
from tracelake.schemas import EVENT_FIELDS, AgentEvent

SEED = 20260105
SAMPLE_RUNS = 400
TS_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
TERMINAL = {"run_completed", "run_failed"}


@pytest.fixture(scope="module")
def sample() -> list[list[dict]]:
    return list(generate_runs(SEED, SAMPLE_RUNS))


def _shards(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.glob("events-*.jsonl"))}


# -- determinism ---------------------------------------------------------------------------


def test_same_seed_gives_same_bytes_and_other_seed_differs(ctx, tmp_path):
    a = simulate_job.run(ctx, runs=60, seed=SEED, out=str(tmp_path / "a"), files=3)
    b = simulate_job.run(ctx, runs=60, seed=SEED, out=str(tmp_path / "b"), files=3)
    c = simulate_job.run(ctx, runs=60, seed=SEED + 1, out=str(tmp_path / "c"), files=3)

    first, again, other = (_shards(tmp_path / n) for n in "abc")
    assert list(first) == ["events-00000.jsonl", "events-00001.jsonl", "events-00002.jsonl"]
    assert first == again
    assert (tmp_path / "a/.simulation.json").read_bytes() == (
        tmp_path / "b/.simulation.json"
    ).read_bytes()
    assert other.keys() == first.keys() and other != first
    assert a.rows_out == b.rows_out == sum(v.count(b"\n") for v in first.values())
    assert c.details["runs"] == 60


def test_output_does_not_depend_on_hash_randomization():
    script = (
        "import hashlib, orjson\n"
        "from tracelake.jobs.simulate.runs import generate_runs\n"
        "h = hashlib.sha256()\n"
        f"for run in generate_runs({SEED}, 80):\n"
        "    for e in run: h.update(orjson.dumps(e))\n"
        "print(h.hexdigest())\n"
    )
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        digests.add(out.stdout.strip())
    in_process = hashlib.sha256()
    for run in generate_runs(SEED, 80):
        for e in run:
            in_process.update(orjson.dumps(e))
    assert digests == {in_process.hexdigest()}


def test_longer_simulation_starts_with_the_shorter_one():
    """Run i depends only on runs before it, so re-simulating with more runs and ingesting
    again adds the new runs and reports the old ones as duplicates, never as conflicts."""
    short = list(generate_runs(SEED, 40))
    long_prefix = list(islice(generate_runs(SEED, 90), 40))
    assert short == long_prefix


def test_shards_split_runs_evenly_and_never_split_a_run(ctx, tmp_path):
    out = tmp_path / "out"
    result = simulate_job.run(ctx, runs=10, seed=SEED, out=str(out), files=6)
    shards = _shards(out)
    assert len(shards) == 6 == len(result.details["files"])
    runs_per_shard = []
    seen_runs: set[str] = set()
    for data in shards.values():
        run_ids = {orjson.loads(line)["run_id"] for line in data.splitlines()}
        assert not run_ids & seen_runs
        seen_runs |= run_ids
        runs_per_shard.append(len(run_ids))
    assert sorted(runs_per_shard) == [1, 1, 2, 2, 2, 2]
    assert not list(out.glob(".*.tmp"))


# -- every line is a valid canonical event ---------------------------------------------------


def test_every_line_is_a_canonical_agent_event(ctx, tmp_path):
    simulate_job.run(ctx, runs=120, seed=SEED, out=str(tmp_path / "out"))
    lines = b"".join(_shards(tmp_path / "out").values()).splitlines()
    assert len(lines) > 120 * 10
    for line in lines:
        raw = orjson.loads(line)
        assert tuple(raw) == EVENT_FIELDS
        assert TS_TEXT.match(raw["ts"]), raw["ts"]
        event = AgentEvent.model_validate_json(line)
        assert event.mode == "SIMULATION" and event.source == "tracelake-simulator"
        for text in (event.input, event.output, event.state_change):
            if text is not None:
                orjson.loads(text)
    assert len({orjson.loads(line)["event_id"] for line in lines}) == len(lines)


# -- each run is plausible -------------------------------------------------------------------


def test_each_run_is_a_plausible_execution(sample):
    for run in sample:
        run_id = run[0]["run_id"]
        types = [e["event_type"] for e in run]
        assert types[0] == "run_started" and types.count("run_started") == 1
        assert types[-1] in TERMINAL and sum(t in TERMINAL for t in types) == 1
        assert {"goal_received", "memory_consulted", "plan_created", "learning_recorded"} <= set(
            types
        )
        assert all(e["run_id"] == run_id for e in run)
        assert [e["seq"] for e in run] == list(range(len(run)))
        stamps = [e["ts"] for e in run]  # fixed-width UTC text: string order is time order
        assert stamps == sorted(stamps)

        goal = next(e for e in run if e["event_type"] == "goal_received")
        assert goal["goal"] and goal["scenario"] and goal["scenario_level"]
        assert run[0]["goal"] == run[-1]["goal"] == goal["goal"]
        plan = next(e for e in run if e["event_type"] == "plan_created")
        steps = orjson.loads(plan["output"])["steps"]
        assert steps and all(s["reason"] and s["component"] for s in steps)
        assert plan["reasoning"]

        by_id = {}
        for e in run:
            parent = e["parent_event_id"]
            if parent is not None:
                assert parent in by_id, f"{e['event_id']} points at a later or foreign event"
            by_id[e["event_id"]] = e
        for e in run:
            parent = by_id.get(e["parent_event_id"])
            if e["event_type"] == "tool_result":
                assert parent["event_type"] == "tool_call"
                assert parent["component_name"] == e["component_name"]
            elif e["event_type"] == "agent_message":
                assert parent["event_type"] == "delegation"
            elif e["event_type"] == "recovery":
                assert parent["event_type"] == "error"
            elif e["event_type"] == "component_selected":
                assert parent["event_type"] == "plan_created"
        if types[-1] == "run_failed":
            assert run[-1]["status"] == "error" and run[-1]["error_type"]


def test_failures_recoveries_levels_and_patterns_across_runs(sample):
    outcomes = Counter(run[-1]["attributes"]["outcome"] for run in sample)
    assert outcomes["success"] > outcomes["success_with_recovery"] > 0
    assert outcomes["failure"] > 0
    assert Counter(run[-1]["event_type"] for run in sample)["run_failed"] == outcomes["failure"]

    recovered = [
        run
        for run in sample
        if run[-1]["event_type"] == "run_completed" and any(e["event_type"] == "error" for e in run)
    ]
    assert recovered
    strategies = Counter()
    for run in recovered:
        first_error = next(i for i, e in enumerate(run) if e["event_type"] == "error")
        assert any(e["event_type"] == "recovery" for e in run[first_error:])
    for run in sample:
        strategies.update(e["action"] for e in run if e["event_type"] == "recovery")
    assert {"retry", "fallback", "skip"} <= strategies.keys()
    error_types = Counter(
        e["error_type"] for run in sample for e in run if e["event_type"] == "error"
    )
    assert {"http_403", "timeout", "bad_output"} <= error_types.keys()

    assert {run[0]["scenario_level"] for run in sample} == {
        "single_domain",
        "cross_domain",
        "novel",
    }
    assert len({run[0]["scenario"] for run in sample}) >= 7
    assert {run[0]["attributes"]["sim.pattern"] for run in sample} == {
        "fetch_process_output",
        "parallel_merge_summarize",
        "refine_check_finalize",
    }
    created = [e for run in sample for e in run if e["event_type"] == "component_created"]
    assert created and all(e["component_version"] == "0.1.0" and e["reasoning"] for e in created)
    assert len({e["component_name"] for e in created}) == len(created)  # created once, reused
    assert len({run[0]["ts"][:10] for run in sample}) >= 7  # spans days: partitions vary


def test_web_fetcher_evolves_and_fails_less_afterwards(sample):
    evolved = [
        e
        for run in sample
        for e in run
        if e["event_type"] == "component_evolved" and e["component_name"] == "WebFetcherTool"
    ]
    assert evolved, "WebFetcherTool never evolved"
    first = evolved[0]
    assert first["component_version"] == "1.1"
    assert first["attributes"]["old_version"] == "1.0"
    assert first["attributes"]["replaces"] == "WebFetcherTool@1.0"
    assert first["reasoning"]

    calls: dict[str, Counter] = defaultdict(Counter)
    versions_in_order = []
    for run in sample:
        for e in run:
            if e["event_type"] == "tool_result" and e["component_name"] == "WebFetcherTool":
                calls[e["component_version"]][e["status"]] += 1
                versions_in_order.append(e["component_version"])
    before, after = calls["1.0"], calls["1.1"]
    assert before.total() >= 50 and after.total() >= 50
    rate_before = before["error"] / before.total()
    rate_after = after["error"] / after.total()
    assert rate_after < rate_before / 2
    # Lineage is consistent: once 1.1 is out, no later call uses 1.0.
    first_new = versions_in_order.index("1.1")
    assert "1.0" not in versions_in_order[first_new:]


def test_summarization_agent_gets_a_major_version(sample):
    evolved = [
        e
        for run in sample
        for e in run
        if e["event_type"] == "component_evolved" and e["component_name"] == "SummarizationAgent"
    ]
    assert [e["component_version"] for e in evolved] == ["2.0.0"]
    assert evolved[0]["attributes"]["registry_id"] == "agent_summarizer_v2"


# -- corruption and ingest -------------------------------------------------------------------


def test_corrupted_lines_are_quarantined_and_good_lines_stored(ctx, tmp_path):
    clean_dir, bad_dir = tmp_path / "clean", tmp_path / "bad"
    simulate_job.run(ctx, runs=150, seed=SEED, out=str(clean_dir), files=2)
    sim = simulate_job.run(ctx, runs=150, seed=SEED, out=str(bad_dir), files=2, corrupt_rate=0.05)
    corrupted = sim.details["corrupted"]
    assert set(corrupted) == set(CORRUPTION_KINDS)
    assert all(n > 0 for n in corrupted.values()), corrupted
    total_bad = sim.details["corrupted_total"]
    assert total_bad == sum(corrupted.values())

    clean_lines = b"".join(_shards(clean_dir).values()).splitlines()
    bad_lines = b"".join(_shards(bad_dir).values()).splitlines()
    assert len(clean_lines) == len(bad_lines)
    changed = sum(a != b for a, b in zip(clean_lines, bad_lines, strict=True))
    assert changed == total_bad  # the other lines are byte-identical to the clean run

    result = ingest_job.run(ctx, [str(bad_dir)])
    assert result.rows_in == len(bad_lines)
    assert result.rows_quarantined == total_bad
    assert result.rows_out == len(bad_lines) - total_bad

    expected_reasons = Counter()
    for kind, n in corrupted.items():
        expected_reasons[CORRUPTION_KINDS[kind]] += n
    quarantine = ctx.lake.read(catalog.BRONZE_QUARANTINE, columns=["reason_code", "reason"])
    assert Counter(quarantine.column("reason_code").to_pylist()) == expected_reasons
    assert all(quarantine.column("reason").to_pylist())

    stored = ctx.lake.read(catalog.BRONZE_EVENTS, columns=["event_id"])
    good_ids = {
        orjson.loads(a)["event_id"] for a, b in zip(clean_lines, bad_lines, strict=True) if a == b
    }
    assert set(stored.column("event_id").to_pylist()) == good_ids


# -- parameters, output directory, bookkeeping ------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"runs": 0},
        {"seed": -1},
        {"corrupt_rate": 1.5},
        {"corrupt_rate": -0.1},
        {"files": 0},
        {"files": 11},
    ],
)
def test_bad_parameters_are_refused_with_a_clear_error(ctx, tmp_path, params):
    args = {"runs": 10, "seed": 1, "out": str(tmp_path / "out"), **params}
    with pytest.raises(simulate_job.InvalidSimulationError) as info:
        simulate_job.run(ctx, **args)
    assert isinstance(info.value, TracelakeError)
    assert next(iter(params)).replace("_", "-") in str(info.value)
    assert not (tmp_path / "out").exists()


def test_existing_output_is_kept_unless_overwrite(ctx, tmp_path):
    out = tmp_path / "out"
    simulate_job.run(ctx, runs=12, seed=1, out=str(out), files=4)
    before = _shards(out)
    with pytest.raises(simulate_job.OutputNotEmptyError, match="--overwrite"):
        simulate_job.run(ctx, runs=12, seed=2, out=str(out))
    assert _shards(out) == before

    simulate_job.run(ctx, runs=12, seed=2, out=str(out), files=2, overwrite=True)
    after = _shards(out)
    assert list(after) == ["events-00000.jsonl", "events-00001.jsonl"]  # stale shards gone
    assert after["events-00000.jsonl"] != before["events-00000.jsonl"]


def test_a_file_as_output_is_refused(ctx, tmp_path):
    target = tmp_path / "taken"
    target.write_text("x")
    with pytest.raises(simulate_job.InvalidSimulationError, match="is a file"):
        simulate_job.run(ctx, runs=3, seed=1, out=str(target))


class RecordingProgress:
    def __init__(self) -> None:
        self.started: list[tuple[str, float | None]] = []
        self.advanced = 0.0
        self.finished = 0

    def start(self, description: str, total: float | None) -> None:
        self.started.append((description, total))

    def advance(self, amount: float = 1) -> None:
        self.advanced += amount

    def finish(self) -> None:
        self.finished += 1


def test_reports_progress_and_records_the_job_run(ctx, tmp_path):
    ctx.progress = RecordingProgress()
    result = simulate_job.run(ctx, runs=600, seed=3, out=str(tmp_path / "out"))
    assert ctx.progress.started == [("simulate 600 runs", 600)]
    assert ctx.progress.advanced == 600 and ctx.progress.finished == 1
    assert result.details["runs"] == 600
    assert sum(result.details["outcomes"].values()) == 600

    runs = ctx.lake.read(catalog.OPS_JOB_RUNS, columns=["job", "status", "rows_out"]).to_pylist()
    assert {"job": "simulate", "status": "succeeded", "rows_out": result.rows_out} in runs
