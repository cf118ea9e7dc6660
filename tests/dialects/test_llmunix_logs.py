"""Kernel event log (B3), memory logs (B4), memory notes (B5), agent messages (B8) and
simulation decision records (B9)."""

from __future__ import annotations

from dialects.dialect_support import LLMUNIX, PROJECT, loads, parse_file, text_at

RESEARCH = PROJECT / "projects/ResearchProject"


def test_kernel_history_maps_blocks_to_events():
    p = parse_file(
        PROJECT / "projects/KernelProject/workspace/history.md", "llmunix.kernel_history"
    )
    assert p.rejected == []
    assert [e["event_type"] for e in p.events] == [
        "run_started",
        "memory_consulted",
        "plan_created",
        "component_created",
        "delegation",
        "agent_message",
        "delegation",
        "error",
        "error",
        "run_completed",
    ]
    assert {e["run_id"] for e in p.events} == {"kexec_042"}
    assert all(e["mode"] == "EXECUTION" for e in p.events)
    assert p.one("plan_created")["reasoning"].startswith("Research first, then draft")
    assert "reuse their outline" in p.one("memory_consulted")["reasoning"]
    created = p.one("component_created")
    assert (created["component_name"], created["component_version"]) == (
        "MarketAnalystAgent",
        "1.0.0",
    )
    first, second = p.of_type("delegation")
    done = p.one("agent_message")
    assert done["parent_event_id"] == first["event_id"]
    assert done["latency_ms"] == 90_000.0 and done["cost_usd"] == 0.021
    timeout, budget = p.of_type("error")
    assert timeout["parent_event_id"] == second["event_id"]
    assert (
        timeout["error_type"] == "delegation_timeout"
        and timeout["component_name"] == "ReviewerAgent"
    )
    assert budget["error_type"] == "budget_exceeded" and budget["attributes"]["spent"] == "$0.061"
    end = p.one("run_completed")
    assert end["status"] == "ok" and end["cost_usd"] == 0.061 and end["latency_ms"] == 410_000.0
    assert end["goal"] == "Produce a market brief on battery recycling"


def test_messy_kernel_history():
    path = LLMUNIX / "messy/kernel_history_messy.md"
    p = parse_file(path, "llmunix.kernel_history")
    started = p.one("tool_call")
    finished = p.one("tool_result")
    assert started["component_name"] == "Bash"  # SystemTool alias
    assert finished["parent_event_id"] == started["event_id"]
    assert finished["status"] == "error" and finished["error"] == "exit code 2"
    assert finished["latency_ms"] == 12_500.0
    # no timestamp of its own: inherits the previous block's
    assert finished["ts"] == started["ts"]
    assert p.one("x-kernel.checkpoint_saved")["attributes"]["path"] == "state/checkpoint.json"
    assert p.one("error")["error_type"] == "agent_not_found"
    failed = p.one("run_failed")
    assert failed["error"] == "no agent can reconcile invoices"
    assert p.reasons() == ["unparseable"]
    assert p.rejected[0]["raw"] == "some stray preamble the model wrote"
    assert text_at(str(path), p.rejected[0]["source_position"]) == p.rejected[0]["raw"]


def test_memory_log_bullets_layout():
    p = parse_file(RESEARCH / "memory/long_term/memory_log.md", "llmunix.memory_log")
    assert p.rejected == []
    done = p.one("run_completed")
    assert done["run_id"] == "exp_001"
    assert done["attributes"]["outcome"] == "success_with_recovery"
    assert done["cost_usd"] == 0.041 and done["latency_ms"] == 247_000.0
    assert loads(done["attributes"]["components_used"]) == [
        "WebFetch",
        "SummarizationAgent",
        "Write",
    ]
    assert loads(done["output"]) == "Five summaries with citations"
    learnings = [e["reasoning"] for e in p.of_type("learning_recorded") if e["run_id"] == "exp_001"]
    assert learnings == [
        "The arXiv listing returns 403 on the first request; use the export mirror",
        "Citations need paper ids, not titles",
    ]
    failed = p.one("run_failed")
    assert failed["run_id"] == "exp_002" and failed["attributes"]["outcome"] == "failure"
    assert [
        e["component_name"] for e in p.of_type("component_selected") if e["run_id"] == "exp_002"
    ] == ["WebFetch"]


def test_memory_log_yaml_blocks_layout():
    p = parse_file(LLMUNIX / "messy/memory_log_yaml.md", "llmunix.memory_log")
    done = p.one("run_completed")
    assert done["run_id"] == "exp_yaml_01" and done["latency_ms"] == 95_000.0
    assert done["cost_usd"] == 0.034 and loads(done["output"]) == "Release notes with 14 entries."
    assert loads(done["attributes"]["tags"]) == ["release", "docs"]
    assert [
        e["reasoning"] for e in p.of_type("learning_recorded") if e["run_id"] == "exp_yaml_01"
    ] == ["Group PRs by label before summarising", "Skip dependency bumps"]
    failed = p.one("run_failed")
    assert failed["run_id"] == "exp_yaml_02" and failed["cost_usd"] == 0.002
    assert failed["attributes"]["error_count"] == "1"
    assert p.reasons() == ["unparseable"]
    assert "invalid YAML" in p.rejected[0]["reason"] and "exp_yaml_03" in p.rejected[0]["raw"]


def test_memory_log_front_matter_layout_with_doubled_rules_and_a_template_entry():
    p = parse_file(LLMUNIX / "messy/memory_log_frontmatter.md", "llmunix.memory_log")
    done = p.one("run_completed")
    assert (
        done["run_id"] == "exp_fm_01" and done["goal"] == "Answer a question from the internal wiki"
    )
    assert done["cost_usd"] == 0.003
    assert loads(done["output"]) == "Answered with two wiki citations."
    assert len(p.of_type("learning_recorded")) == 2
    assert {e["run_id"] for e in p.events} == {"exp_fm_01"}
    assert p.reasons() == ["template"]
    assert "exp_fm_02" in p.rejected[0]["raw"]


def test_memory_note_with_front_matter():
    path = RESEARCH / "memory/short_term/2024-03-01_10-15-00_ResearchAgent.md"
    p = parse_file(path, "llmunix.memory_note")
    started = p.one("run_started")
    assert started["component_name"] == "ResearchAgent" and started["action"] == "fetch_papers"
    assert started["attributes"]["memory_driven"] == "true"
    assert started["attributes"]["project"] == "ResearchProject"
    assert p.one("goal_received")["goal"] == "Find this week's AI safety papers on arXiv."
    assert loads(p.one("agent_message")["output"]).startswith("Found 12 papers")
    results = p.of_type("tool_result")
    assert [(r["status"], r.get("error_type")) for r in results] == [
        ("error", "http_403"),
        ("ok", None),
        ("ok", None),
    ]
    calls = p.of_type("tool_call")
    assert loads(calls[0]["input"]) == "https://arxiv.org/list/cs.AI/recent"
    assert results[0]["parent_event_id"] == calls[0]["event_id"]
    done = p.one("run_completed")
    assert done["attributes"]["outcome"] == "partial" and done["latency_ms"] == 42_500.0
    assert [e["reasoning"] for e in p.of_type("learning_recorded")] == [
        "Try the export mirror first",
        "Cache the listing for an hour",
    ]
    assert text_at(str(path), results[0]["source_position"]).endswith("→ 403 Forbidden")


def test_memory_note_with_bold_key_header_and_time_from_header():
    p = parse_file(
        RESEARCH / "memory/short_term/2024-03-01_10-20-00_WriterAgent.md", "llmunix.memory_note"
    )
    started = p.one("run_started")
    assert started["ts"].isoformat() == "2024-03-01T10:20:00+00:00"
    assert started["mode"] == "EXECUTION" and started["attributes"]["note_header"] == "bold_keys"
    assert [c["component_name"] for c in p.of_type("tool_call")] == ["Read", "Write"]
    assert p.one("run_completed")["attributes"]["outcome"] == "success"


def test_communication_log_messages_and_reply_parentage():
    p = parse_file(RESEARCH / "workspace/communication_log.jsonl", "llmunix.communication_log")
    assert {e["run_id"] for e in p.events} == {"exec_research_001"}  # from workspace/state
    delegation = p.one("delegation")
    assert delegation["component_name"] == "SummarizationAgent"
    assert delegation["component_version"] == "2.0.0"
    assert loads(delegation["state_change"]) == {"papers_found": 12}
    request, response = p.of_type("agent_message")
    assert response["parent_event_id"] == request["event_id"]
    assert response["attributes"]["priority"] == "high"
    error = p.one("error")
    assert error["error"] == "PDF 2403.01234 timed out"
    assert error["parent_event_id"] == delegation["event_id"]


def test_communication_log_bad_lines_are_quarantined_the_rest_stored():
    p = parse_file(LLMUNIX / "messy/communication_log_bad.jsonl", "llmunix.communication_log")
    assert len(p.events) == 2
    assert loads(p.events[1]["output"]) == {"prices": 3}
    assert [(r["reason_code"], r["source_position"]) for r in p.rejected] == [
        ("schema", "lines:3-3"),
        ("bad_json", "lines:4-4"),
    ]
    assert "gossip" in p.rejected[0]["reason"]


def test_simulation_decision_records():
    p = parse_file(
        PROJECT / "projects/SimProject/workspace/simulation_decisions.jsonl",
        "llmunix.decision_records",
    )
    assert all(e["mode"] == "SIMULATION" for e in p.events)
    fetch, write = p.of_type("tool_call")
    assert (
        fetch["component_name"] == "WebFetch"
        and fetch["reasoning"] == "Need the listing before summarising"
    )
    assert loads(fetch["input"]) == {"url": "https://arxiv.org/list/cs.AI/recent"}
    assert fetch["attributes"]["next_state"] == "AWAITING_RESULT"
    first, second = p.of_type("tool_result")
    assert (
        first["parent_event_id"] == fetch["event_id"]
        and second["parent_event_id"] == write["event_id"]
    )
    assert first["attributes"]["confidence"] == "0.9"
    assert loads(second["state_change"]) == {"report": "done"}
    assert p.one("run_completed")["parent_event_id"] == second["event_id"]
