"""llmunix execution state (B1) and state directory files (B2)."""

from __future__ import annotations

import shutil

from dialects.dialect_support import LLMUNIX, PROJECT, loads, parse_file, text_at

STATE = PROJECT / "projects/ResearchProject/workspace/state"
LEGACY = PROJECT / "projects/LegacyProject/workspace/execution_state.md"


def test_execution_state_file_maps_metadata_plan_log_and_outcome():
    p = parse_file(LEGACY, "llmunix.execution_state")
    assert p.rejected == []
    assert {e["run_id"] for e in p.events} == {"exec_legacy_007"}
    started = p.one("run_started")
    # the title spilled onto a second line; the metadata goal wins anyway
    assert started["goal"] == "Translate the onboarding guide into Spanish and French"
    assert started["mode"] == "SIMULATION"
    assert started["attributes"]["status"] == "COMPLETED_FAILURE"
    variables = loads(p.one("state_changed")["state_change"])
    assert variables == {"source_file": "docs/onboarding.md", "languages": ["es", "fr"]}
    plan = p.one("plan_created")
    assert loads(plan["input"]) == [
        {"step": 1, "action": "Read the guide"},
        {"step": 2, "action": "Translate"},
    ]
    read_step, translate_step = p.of_type("component_selected")
    assert (read_step["component_name"], read_step["component_kind"]) == ("Read", "tool")
    assert read_step["attributes"]["component_raw_name"] == "FileReaderTool"
    assert read_step["status"] == "ok" and read_step["parent_event_id"] == plan["event_id"]
    assert float(translate_step["attributes"]["estimated_time_s"]) == 120.0
    assert translate_step["status"] == "error"
    call1, call2 = p.of_type("tool_call")
    res1, res2 = p.of_type("tool_result")
    assert res1["parent_event_id"] == call1["event_id"]
    assert res1["latency_ms"] == 400.0 and res1["status"] == "ok" and res1["cost_usd"] == 0.0
    assert res2["latency_ms"] == 220_000.0 and res2["cost_usd"] == 0.018
    assert res2["status"] == "error" and res2["error"] == "fr translation hit the token limit"
    assert call2["ts"].isoformat() == "2024-01-05T14:00:02+00:00"
    failed = p.one("run_failed")
    assert failed["cost_usd"] == 0.018 and failed["latency_ms"] == 222_000.0
    assert "budget-bound failure" in loads(p.one("x-training_data")["output"])


def test_messy_execution_state_keeps_what_it_can_and_rejects_the_rest():
    p = parse_file(LLMUNIX / "messy/execution_state_messy.md", "llmunix.execution_state")
    started = p.one("run_started")
    assert started["run_id"] == "exec_messy_003"  # key written as "Execution ID"
    assert started["mode"] == "EXECUTION"  # written lower case
    assert started["goal"] == "Build a weekly competitor pricing digest"
    scrape, chart = p.of_type("component_selected")
    assert scrape["component_name"] == "WebFetch" and scrape["status"] == "ok"  # emoji status
    assert float(scrape["attributes"]["estimated_cost_usd"]) == 0.02
    assert float(scrape["attributes"]["estimated_time_s"]) == 222.0
    assert chart.get("component_name") is None and chart["status"] == "pending"
    result = p.one("tool_result")
    assert result["cost_usd"] == 0.012 and result["latency_ms"] == 8300.0
    assert result["status"] == "ok" and result["attributes"]["warnings"] == "⚠️ 2 pages slow"
    assert not p.of_type("run_completed") and not p.of_type("run_failed")  # still IN_PROGRESS
    codes = sorted(p.reasons())
    assert codes == ["template", "unparseable", "unrecognised_section"]
    by_code = {r["reason_code"]: r for r in p.rejected}
    assert "[Component Name]" in by_code["template"]["raw"]
    assert "Step 2 Execution" in by_code["unparseable"]["raw"]
    assert by_code["unrecognised_section"]["source_position"] == "lines:35-36"


def test_template_execution_state_is_quarantined_whole_as_template():
    p = parse_file(LLMUNIX / "messy/execution_state_template.md", "llmunix.execution_state")
    assert p.events == []
    assert p.reasons() == ["template"]
    assert "[Goal Title]" in p.rejected[0]["raw"]


def test_state_directory_files_join_one_run_through_the_execution_id():
    files = ["plan.md", "context.md", "history.md", "variables.json", "constraints.md"]
    parsed = {name: parse_file(STATE / name) for name in files}
    assert [parsed[n].dialect for n in files] == [
        "llmunix.state_plan",
        "llmunix.state_context",
        "llmunix.state_history",
        "llmunix.state_variables",
        "llmunix.state_constraints",
    ]
    runs = {e["run_id"] for p in parsed.values() for e in p.events}
    assert runs == {"exec_research_001"}
    seqs = [e["seq"] for p in parsed.values() for e in p.events]
    assert len(seqs) == len(set(seqs)), "events of one run must not share a seq"


def test_plan_rationale_and_steps():
    p = parse_file(STATE / "plan.md", "llmunix.state_plan")
    plan = p.one("plan_created")
    assert plan["reasoning"].startswith("We fetch first because summaries need sources")
    steps = p.of_type("component_selected")
    assert [s["component_name"] for s in steps] == ["WebFetch", "SummarizationAgent", "Write"]
    assert steps[1]["component_version"] == "2.0.0"  # from registry id agent_summarizer_v2
    assert steps[1]["reasoning"] == "v2 tracks citations, which the report needs"
    done = p.one("run_completed")
    assert done["latency_ms"] == 252_000.0 and done["ts"].isoformat() == "2024-03-01T10:04:12+00:00"


def test_context_reasoning_is_kept_as_text():
    p = parse_file(STATE / "context.md", "llmunix.state_context")
    consulted = p.of_type("memory_consulted")
    assert [e["action"] for e in consulted] == ["Knowledge", "Current Understanding"]
    assert "HTTP 403" in consulted[0]["reasoning"]
    rationale = p.one("plan_created")
    assert rationale["reasoning"].startswith("Use the export mirror first")
    assert "rejected by the user." in rationale["reasoning"]
    # context.md has no time of its own: it takes the run's start from plan.md
    assert rationale["ts"].isoformat() == "2024-03-01T10:00:00+00:00"


def test_history_variables_and_constraints():
    history = parse_file(STATE / "history.md")
    calls = history.of_type("tool_call")
    assert [c["component_name"] for c in calls] == ["WebFetch", "Task", "Write"]
    assert calls[1]["attributes"]["component_used"] == "SummarizationAgent"
    assert loads(calls[0]["input"]) == {"url": "https://arxiv.org/list/cs.AI/recent"}
    results = history.of_type("tool_result")
    assert [r["latency_ms"] for r in results] == [8300.0, 222_000.0, 250.0]
    assert [r["status"] for r in results] == ["ok", "error", "ok"]
    assert loads(results[0]["state_change"]) == "papers_found=12"
    variables = parse_file(STATE / "variables.json")
    keys = [e["action"] for e in variables.events]
    assert keys == [
        "variables.execution_metadata",
        "variables.step_data",
        "variables.file_paths",
        "variables.extracted_data",
        "variables.cost_tracking",
    ]
    cost = variables.events[-1]
    assert (
        cost["attributes"]["total_cost_usd"] == "0.041" and cost["source_position"] == "lines:11-11"
    )
    constraints = parse_file(STATE / "constraints.md").one("state_changed")
    assert constraints["attributes"]["max_cost_per_task_usd"] == "0.5"
    assert constraints["attributes"]["error_tolerance_fraction"] == "0.1"
    assert (
        loads(constraints["state_change"])["constraints"]["active_persona"] == "careful_researcher"
    )


def test_state_file_without_neighbours_gets_a_stable_derived_run(tmp_path):
    a = tmp_path / "a" / "projects" / "P" / "workspace" / "state"
    b = tmp_path / "b" / "projects" / "P" / "workspace" / "state"
    for folder in (a, b):
        folder.mkdir(parents=True)
        shutil.copy(STATE / "context.md", folder / "context.md")
    run_a = {e["run_id"] for e in parse_file(a / "context.md").events}
    run_b = {e["run_id"] for e in parse_file(b / "context.md").events}
    assert run_a == run_b and len(run_a) == 1  # same file in a moved tree: same run
    assert next(iter(run_a)).startswith("execution-")
    assert all(
        e["attributes"].get("ts_missing") == "true" for e in parse_file(a / "context.md").events
    )


def test_positions_point_at_the_source_text():
    p = parse_file(LEGACY)
    for event in p.events:
        text = text_at(LEGACY, event["source_position"])
        if event["event_type"] == "tool_result" and event.get("cost_usd"):
            assert "actual_cost" in text
        if event["event_type"] == "component_selected":
            assert event["action"] in text
