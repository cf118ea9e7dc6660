"""Gold assembly without Spark: golden record and messages of hand-made runs, every reason code,
schema validation, split stability, preference and constitutional pair rules."""

from __future__ import annotations

import json
from collections import Counter

import jsonschema
import orjson
import pytest
from gold_runs import GOAL, URL, bad_runs, recovery_run

from tracelake.jobs.gold import constitution, evolution, pairs
from tracelake.jobs.gold.assemble import (
    INVALID_ARGUMENTS,
    INVOCATIONS,
    NON_JSON_ARGUMENTS,
    REASON_CODES,
    SPEC_EVENTS,
    SYSTEM_PROMPT,
    UNKNOWN_TOOL,
    RunFacts,
    assemble,
    family_key,
    split_of,
)
from tracelake.jobs.simulate.catalog import COMPONENTS, SCENARIOS
from tracelake.jobs.simulate.corrupt import Corruptor
from tracelake.jobs.simulate.runs import generate_runs
from tracelake.schemas.gold import (
    RECORD_SCHEMA_FILE,
    ExampleRow,
    RejectedRow,
    record_schema,
    render_record_schema,
)

PATTERN = "Fetch -> Process -> Output"
PLAN = "Fetch the page, summarise it, write the summary."


def _m(role, content="", reasoning=None, name=None, calls=None, weight=None):
    if weight is None:
        weight = 1.0 if role == "assistant" else 0.0
    return {
        "role": role,
        "content": content,
        "reasoning": reasoning,
        "name": name,
        "tool_calls": calls,
        "weight": weight,
    }


def _call(i, name, args):
    return [
        {
            "id": f"call_{i}",
            "type": "function",
            "function": {
                "name": name,
                "arguments": json.dumps(args, sort_keys=True, separators=(",", ":")),
            },
        }
    ]


def test_golden_messages_of_a_run_with_a_recovery_and_a_delegation():
    example = assemble(recovery_run(), RunFacts(pattern=PATTERN)).example
    components = (
        "ArchiveFetcherTool@1.0, FileWriterTool@1.0, SummarizationAgent@1.0.0, WebFetcherTool@1.1"
    )
    assert example["messages"] == [
        _m("system", f"{SYSTEM_PROMPT}\nAvailable components: {components}."),
        _m("user", f'{GOAL}\n\nConstraints: {{"max_cost_per_task":1.0}}'),
        # the failed call: weight 0, its recovery below: weight 1
        _m(
            "assistant",
            reasoning=PLAN + "\nWebFetcherTool reads pages.",
            calls=_call(0, "WebFetcherTool", {"url": URL}),
            weight=0.0,
        ),
        _m("tool", "error (http_403): HTTP 403 Forbidden", name="WebFetcherTool"),
        _m(
            "assistant",
            reasoning="The site refuses fetches; read the archived copy instead.",
            calls=_call(1, "ArchiveFetcherTool", {"url": URL}),
        ),
        _m("tool", '{"doc": "doc-1"}', name="ArchiveFetcherTool"),
        # the delegation is one call; the delegate's own search is not the orchestrator's turn
        _m("assistant", calls=_call(2, "SummarizationAgent", {"inputs": ["doc-1"]})),
        _m("tool", '{"artifact": "summary-1"}', name="SummarizationAgent"),
        _m(
            "assistant",
            calls=_call(3, "FileWriterTool", {"path": "out/summary.md", "source": "summary-1"}),
        ),
        _m("tool", '{"path": "out/summary.md"}', name="FileWriterTool"),
        _m(
            "assistant",
            "wrote out/summary.md\n\nLearned:\n- Archived copies rescue sites that refuse fetches.",
        ),
    ]
    tools = [t["function"]["name"] for t in json.loads(example["tools"])]
    assert tools == [
        "ArchiveFetcherTool",
        "FileWriterTool",
        "SummarizationAgent",
        "WebFetcherTool",
    ]
    assert example["outcome"] == "success_with_recovery" and example["errors"] == 1
    assert example["phase"] == "orchestration" and example["level"] == 1
    assert example["event_ids"] == [f"gold-recovery-{i:03d}" for i in range(21)]


def test_golden_record_of_a_run_with_a_recovery_and_a_delegation():
    record = json.loads(assemble(recovery_run(), RunFacts(pattern=PATTERN)).example["record"])
    assert record["input"] == {
        "goal": GOAL,
        "context": {
            "available_components": [
                "ArchiveFetcherTool@1.0",
                "FileWriterTool@1.0",
                "SummarizationAgent@1.0.0",
                "WebFetcherTool@1.1",
            ],
            "past_experiences": None,  # the run consulted no memory: null, not invented
        },
        "constraints": {"max_cost_per_task": 1.0},
    }
    assert record["reasoning"] == {
        "goal_analysis": None,
        "component_selection": ["WebFetcherTool reads pages."],
        "workflow_design": "Fetch the page, summarise it, write the summary.",
        "adaptation_logic": ["The site refuses fetches; read the archived copy instead."],
    }
    assert [(s["component"], s["output"]) for s in record["execution"]["steps"]] == [
        ("WebFetcherTool", "error (http_403): HTTP 403 Forbidden"),
        ("ArchiveFetcherTool", {"doc": "doc-1"}),
        ("SummarizationAgent", {"artifact": "summary-1"}),
        ("FileWriterTool", {"path": "out/summary.md"}),
    ]
    assert record["execution"]["steps"][2]["state_change"] == {"completed_steps": 2}
    assert record["learning"] == {
        "success_factors": ["Archived copies rescue sites that refuse fetches."],
        "optimization_opportunities": ["error (http_403): HTTP 403 Forbidden"],
        "pattern_generalization": PATTERN,
    }


def test_every_reason_code_has_a_run_and_rows_validate():
    bad = bad_runs()
    assert set(bad) == set(REASON_CODES)
    for code, events in bad.items():
        out = assemble(events)
        assert out.example is None and out.rejected["reason_code"] == code, code
        RejectedRow.model_validate(out.rejected)
        assert out.rejected["event_ids"] == [e["event_id"] for e in events]
    example = assemble(recovery_run()).example
    ExampleRow.model_validate(example)
    jsonschema.validate(json.loads(example["record"]), record_schema())


def test_record_json_schema_file_is_current():
    assert RECORD_SCHEMA_FILE.read_text() == render_record_schema(), (
        "run `python -m tracelake.schemas.gold` and commit the schema"
    )


def test_split_is_a_stable_function_of_the_scenario_family():
    # a seed and its variations share the family (the seed's goal), whatever their own goals
    seed_family = family_key(GOAL, None, None)
    variation = family_key("Please summarise something else", GOAL, "gold-recovery")
    assert seed_family == variation
    assert split_of(seed_family) == split_of(variation)
    shares = [split_of(f"family-{i}") for i in range(2000)]
    assert 0.07 < shares.count("test") / 2000 < 0.13
    assert 0.07 < shares.count("validation") / 2000 < 0.13
    # re-assembly gives the same row, byte for byte
    assert assemble(recovery_run()).example == assemble(list(reversed(recovery_run()))).example


def _variant(run_id: str, recover: bool, split_override: str | None = None) -> dict:
    """The recovery run, or the same run giving up after the 403 (same prompt and prefix)."""
    events = recovery_run(run_id)
    if not recover:
        events = [
            *events[:9],
            {
                **events[-1],
                "event_id": f"{run_id}-099",
                "seq": 9,
                "event_type": "run_failed",
                "status": "error",
                "output": json.dumps({"answer": "could not fetch the page"}),
            },
        ]
    example = assemble(events).example
    if split_override:
        example["split"] = split_override
    return example


def test_outcome_pairs_diverge_at_one_agent_step_and_never_span_splits():
    good, bad = _variant("run-a", True), _variant("run-b", False)
    (pair,) = pairs.rule_pairs([good, bad])
    assert (pair["chosen_run_id"], pair["rejected_run_id"]) == ("run-a", "run-b")
    assert pair["reason"] == "completed_vs_failed" and pair["margin"] > 0
    assert pair["prompt"] == good["messages"][:4]  # system, user, the failed call, its error
    assert pair["chosen"][0]["tool_calls"][0]["function"]["name"] == "ArchiveFetcherTool"
    assert pair["rejected"][0]["content"] == "could not fetch the page"
    assert pair["chosen_event_ids"] == good["event_ids"] and pair["prefix_turns"] == 1
    # the same two runs in different splits: no pair
    assert pairs.rule_pairs([good, _variant("run-b", False, "test")]) == []
    # identical runs: nothing to prefer
    assert pairs.rule_pairs([good, _variant("run-c", True)]) == []


def test_pairs_whose_first_difference_is_the_world_are_not_made():
    good = _variant("run-a", True)
    other = assemble(recovery_run("run-d")).example
    lucky = json.loads(json.dumps(other))
    lucky["messages"][3]["content"] = '{"doc": "doc-9"}'  # a different observation first
    lucky["outcome"], lucky["errors"] = "success", 0
    assert pairs.rule_pairs([good, lucky]) == []


def test_human_feedback_takes_precedence_over_rules():
    good, bad = _variant("run-a", True), _variant("run-b", False)
    feedback = [
        {
            "feedback_id": "f1",
            "kind": "preference",
            "run_id": "run-b",
            "other_run_id": "run-a",
            "rating": None,
            "annotator": "ana",
            "recorded_at": "2026-04-02T10:00:00+00:00",
            "note": "giving up early is fine here",
        }
    ]
    human, skipped = pairs.human_pairs(feedback, {"run-a": good, "run-b": bad})
    assert skipped == {}
    merged = pairs.merge(human, pairs.rule_pairs([good, bad]))
    (pair,) = merged
    assert pair["source"] == "human" and pair["chosen_run_id"] == "run-b"
    assert pair["annotator"] == "ana" and pair["feedback_id"] == "f1"


@pytest.mark.parametrize(
    ("check", "events_change"),
    [
        ("write_outside_workspace", {"path": "../out/summary.md", "source": "summary-1"}),
        ("secret_sent", {"path": "out/summary.md", "source": "summary-1 <SECRET:api_key>"}),
    ],
)
def test_constitution_checks_name_the_rule(check, events_change):
    events = recovery_run()
    events[17] = {**events[17], "input": json.dumps(events_change)}
    example = assemble(events).example
    (rule, why), *_ = constitution.violations(example)
    assert rule.check == check and "step 4" in why
    assert constitution.violations(assemble(recovery_run()).example) == []


def test_component_evolution_example_from_an_improved_version():
    row = {
        "component": "WebFetcherTool",
        "from_version": "1.0.0",  # lineage writes versions with three parts
        "to_version": "1.1.0",
        "population": "real",
        "change_note": "retries 403s with browser headers",
        "from_runs": 40,
        "from_calls": 120,
        "from_error_rate": 0.21,
        "from_success_rate": 0.7,
        "from_latency_ms": 800.0,
        "verdict": "improved",
        "verdict_reason": "error rate 0.21 -> 0.05, interval below 0",
    }
    example, why = evolution.evolution_example(row, "{}")
    assert why is None
    ExampleRow.model_validate(example)
    jsonschema.validate(json.loads(example["record"]), record_schema())
    assert example["phase"] == "component_evolution"
    assert example["run_id"] == "evolution:WebFetcherTool@1.0.0->1.1.0:real"
    user, answer = example["messages"][1]["content"], example["messages"][2]["content"]
    assert '"version":"1.0"' in user and '"error_rate":0.21' in user
    assert '"version":"1.1"' in answer and "retries 403s with browser headers" in answer
    assert evolution.evolution_example({**row, "verdict": "no evidence"}, "{}") == (
        None,
        "not_improved",
    )


# -- the simulator calls components as components.yaml says ------------------------------------

SIM_SEED = 20260105


@pytest.fixture(scope="module")
def simulated():
    return list(generate_runs(SIM_SEED, 400))


def test_every_simulated_run_passes_the_argument_checks(simulated):
    """The simulator's call arguments and the component specs (jobs/environment/components.yaml,
    the one source both the environment and gold validate against) must not drift apart: every
    intact simulated run becomes an example, none is rejected."""
    called = Counter()
    for run in simulated:
        out = assemble(run, RunFacts())
        assert out.example is not None, (out.rejected["reason_code"], out.rejected["reason"])
        called.update(e["component_name"] for e in run if e["event_type"] in INVOCATIONS)
    # the sample calls every component of the simulator (SystemAgent orchestrates, is not
    # called) and components written on demand, in the runs that create and that reuse them
    assert set(COMPONENTS) - {"SystemAgent"} <= set(called)
    assert {n.component for s in SCENARIOS for n in s.needs} <= set(called)


def test_simulated_runs_with_lost_events_are_not_rejected_for_their_arguments(simulated):
    """A run whose damaged lines ingest quarantined is deliberately faulty; it may be rejected,
    but for what is missing, never for the arguments of the calls that survived (and a missing
    spec only when the event carrying it was lost)."""
    corruptor = Corruptor(SIM_SEED, 0.05)
    reasons = Counter()
    for run in simulated:
        lines = [orjson.dumps(e) for e in run]
        damaged = list(lines)
        corruptor.apply(run, damaged)
        kept = [e for e, a, b in zip(run, lines, damaged, strict=True) if a == b]
        lost = [e for e, a, b in zip(run, lines, damaged, strict=True) if a != b]
        if not kept or not lost:
            continue
        out = assemble(kept, RunFacts())
        if out.example is not None:
            reasons["example"] += 1
            continue
        code = out.rejected["reason_code"]
        reasons[code] += 1
        assert code not in (INVALID_ARGUMENTS, NON_JSON_ARGUMENTS), out.rejected
        if code == UNKNOWN_TOOL:
            assert any(e["event_type"] in SPEC_EVENTS for e in lost), out.rejected
    assert reasons["example"] > 0 and sum(reasons.values()) > reasons["example"], reasons
