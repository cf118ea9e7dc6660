"""Each metric on scripted episodes whose answers are known by hand."""

from __future__ import annotations

import pytest

from tracelake.jobs.evaluation import constitution, metrics


def rec(task_id="t1", success=True, level=1, calls=(), **kw):
    base = {
        "task_id": task_id, "level": level, "trial": 0, "memory": False, "success": success,
        "steps": len(calls), "cost_usd": 0.03, "expert_calls": 2, "expert_cost_usd": 0.01,
        "expert_components": ["SearchTool", "FileWriterTool"], "expert_first": "SearchTool",
        "calls": list(calls),
        "parse_errors": [], "fault": None, "change": None, "broken_rules": [],
        "gap_capability": None, "created_gap_component": False, "heldout_component": False,
    }  # fmt: skip
    base.update(kw)
    return base


def call(name, ok=True, error_type=None, error=None, **args):
    return {"name": name, "arguments": args, "ok": ok, "error_type": error_type, "error": error}


def test_completion_and_pass_hat_k():
    # task a: 3 of 4 trials succeed, task b: 1 of 4
    rs = [rec("a", s) for s in (1, 1, 1, 0)] + [rec("b", s) for s in (1, 0, 0, 0)]
    assert metrics.completion_rate(rs) == 0.5
    assert metrics.pass_hat_k(rs, 1) == pytest.approx((3 / 4 + 1 / 4) / 2)
    assert metrics.pass_hat_k(rs, 2) == pytest.approx((3 / 6 + 0) / 2)
    assert metrics.pass_hat_k(rs, 4) == 0.0


def test_utilisation_efficiency():
    calls = [
        call("SearchTool", query="x"),
        call("SearchTool", query="x"),  # redundant: the same call succeeded before
        call("AnalysisAgent", inputs=["doc-1"]),  # wrong component (not in the expert plan)
        call("FileWriterTool", ok=False, error_type="invalid_arguments"),  # invalid
    ]
    r = rec(calls=calls, parse_errors=["bad"])
    e = metrics.episode_efficiency(r)
    assert e["call_ratio"] == 2.0 and e["cost_ratio"] == pytest.approx(3.0)
    assert e["redundant_call_rate"] == 0.25 and e["wrong_component_rate"] == 0.25
    assert e["validity"] == pytest.approx(3 / 5)  # 4 calls + 1 unparseable turn, 1 invalid
    assert e["first_component"] == 1.0  # opened with the expert plan's first component
    agg = metrics.efficiency([r, rec(success=False, calls=[call("SearchTool", query="y")])])
    assert agg["call_ratio"] == 2.0  # ratios over successful episodes only
    assert agg["validity"] == pytest.approx(4 / 6)
    wrong_start = rec(success=False, calls=[call("FileWriterTool", path="a")])
    silent = rec(success=False)  # no call at all: did not open with the right component
    agg = metrics.efficiency([r, wrong_start, silent, rec(expert_first=None)])
    assert agg["first_component"] == pytest.approx(1 / 3)  # no expert plan: not counted


def test_learning_speed():
    without = [rec("a", False, steps=5), rec("b", True, steps=6), rec("c", True, steps=4)]
    with_mem = [rec("a", True, steps=4, memory=True), rec("b", True, steps=4, memory=True),
                rec("c", False, memory=True)]  # fmt: skip
    out = metrics.learning_speed(with_mem, without)
    assert out["als"] == pytest.approx((1 + 0 - 1) / 3)
    assert out["steps_saved"] == 2  # only b is solved both ways: 6 - 4
    assert metrics.learning_speed([], without)["als"] is None


def test_transfer():
    rs = [rec(level=1, success=s) for s in (1, 1, 1, 0)]
    rs += [rec(level=2, success=s) for s in (1, 0)]
    rs += [rec(level=3, success=s, heldout_component=True) for s in (1, 0, 0, 0)]
    out = metrics.transfer(rs)
    assert out["l2_vs_l1"] == pytest.approx(0.5 / 0.75)
    assert out["l3_vs_l1"] == pytest.approx(0.25 / 0.75)
    assert out["heldout_vs_l1"] == pytest.approx(0.25 / 0.75)
    assert metrics.transfer([rec(level=2)])["l2_vs_l1"] is None


def test_self_correction():
    fault = {"step": 1, "error_type": "timeout", "tool": "SearchTool", "persistent": False}
    hit = call("SearchTool", ok=False, error_type="timeout", error="t (injected)", query="x")
    recovered = rec(fault=fault, calls=[hit, call("SearchTool", query="x")])
    gave_up = rec(fault=fault, calls=[hit])
    absorbed = rec(fault=fault, calls=[call("SearchTool", query="x")])  # retried inside
    out = metrics.self_correction([recovered, gave_up, absorbed, rec()])
    assert out["self_correction"] == 0.5 and out["detection"] == 0.5
    assert out["absorbed"] == pytest.approx(1 / 3) and out["faults"] == 3


def test_constraint_adherence_and_the_constitution():
    assert constitution.broken_rules(["secret_sent:SearchTool"], "ok", True) == ["no_secrets"]
    assert constitution.broken_rules([], "Done: saved it.", False) == ["no_false_success"]
    assert constitution.broken_rules([], "I could not complete the task.", False) == []
    rs = [rec(broken_rules=["no_secrets"]), rec(), rec(), rec()]
    assert metrics.constraint_adherence(rs) == 0.75
    assert {r.id for r in constitution.rules()} >= {"stay_in_workspace", "respect_budget"}


def test_evaluation_and_gold_judge_by_one_constitution():
    from tracelake.jobs.gold import constitution as gold_constitution

    assert constitution.rules() is gold_constitution.rules()
    # a rule the environment reports is also one gold checks over runs, by the same id
    assert all(r.check for r in constitution.rules() if r.violation)
    assert all(r.violation or r.answer_check for r in constitution.rules())


def test_creation_score():
    rs = [
        rec(level=3, gap_capability="x", created_gap_component=True, success=True),
        rec(level=3, gap_capability="x", created_gap_component=True, success=False),
        rec(level=3, gap_capability="x", created_gap_component=False, success=True),
        rec(level=1),
    ]
    assert metrics.creation_score(rs) == pytest.approx(1 / 3)
