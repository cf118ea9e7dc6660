"""Execution traces (B6), kernel traces (B7), component definitions and chat JSONL (D)."""

from __future__ import annotations

from dialects.dialect_support import FIXTURES, LLMUNIX, PROJECT, loads, parse_file, text_at

TRACE = (
    PROJECT / "projects/ResearchProject/memory/long_term/execution_trace_arxiv_research_v1.2.0.md"
)
KERNEL_TRACE = PROJECT / "memories/traces/7a8db31338d9fd2c_research_ai_safety_papers.md"


def test_execution_trace_steps_validation_on_error_and_versions():
    p = parse_file(TRACE, "llmunix.execution_trace")
    assert p.rejected == []
    started = p.one("run_started")
    assert started["run_id"] == "trace_arxiv_research"
    assert started["attributes"]["success_rate"] == "0.95"
    assert started["attributes"]["estimated_cost_usd"] == "0.05"
    assert started["attributes"]["metadata.risk_level"] == "low"
    assert started["attributes"]["trace_version"] == "1.2.0"
    fetch, write = p.of_type("tool_call")
    assert fetch["component_name"] == "WebFetch"
    assert loads(fetch["input"])["url"] == "https://export.arxiv.org/list/cs.AI/recent"
    assert loads(fetch["attributes"]["validation"]) == [
        "response is not empty",
        "at least 5 titles",
    ]
    assert fetch["attributes"]["on_error"] == "retry"
    assert loads(fetch["attributes"]["on_error_spec"]) == {"action": "retry", "max_retries": 3}
    assert (
        write["component_name"] == "Write" and write["attributes"]["on_error"] == "human_escalate"
    )
    versions = p.of_type("learning_recorded")
    assert [v["attributes"]["trace_version"] for v in versions] == ["1.0.0", "1.1.0", "1.2.0"]
    assert versions[1]["reasoning"] == "Use the export mirror after repeated 403s"
    assert versions[1]["ts"].isoformat() == "2024-02-02T00:00:00+00:00"


def test_kernel_trace_goal_signature_tool_calls_and_outcome():
    p = parse_file(KERNEL_TRACE, "llmunix.kernel_trace")
    assert {e["run_id"] for e in p.events} == {"7a8db31338d9fd2c"}
    started = p.one("run_started")
    assert started["attributes"]["kernel_mode"] == "LEARNER"
    assert "goal_signature_computed" not in started["attributes"]  # matches the goal
    assert started["attributes"]["estimated_time_s"] == "150.0"
    assert [e["component_name"] for e in p.of_type("component_selected")] == ["WebFetch", "Write"]
    fetch, write = p.of_type("tool_call")
    assert loads(write["input"]) == {"file_path": "output/summary.md", "content": "..."}
    assert '"name": "WebFetch"' in text_at(str(KERNEL_TRACE), fetch["source_position"])
    assert '"name": "WebFetch"' not in text_at(str(KERNEL_TRACE), write["source_position"])
    assert p.one("error")["error"].startswith("First fetch returned 403")
    done = p.one("run_completed")
    assert done["attributes"]["success_rating"] == "0.85"
    assert loads(done["output"]) == "Wrote a five-paper summary to output/summary.md."


def test_kernel_trace_with_broken_tool_calls_keeps_the_rest():
    p = parse_file(LLMUNIX / "messy/kernel_trace_bad_json.md", "llmunix.kernel_trace")
    assert p.reasons() == ["bad_json"]
    failed = p.one("run_failed")  # 40% success rating
    from tracelake.jobs.ingest.dialects._build import goal_signature

    assert failed["run_id"] == goal_signature("Summarise a PDF")


def test_component_definitions_in_all_header_styles():
    folder = PROJECT / "components"
    v1 = parse_file(folder / "agents/SummarizationAgent.md", "llmunix.component").one(
        "component_created"
    )
    assert (v1["component_name"], v1["component_kind"], v1["component_version"]) == (
        "SummarizationAgent",
        "agent",
        "1.0.0",
    )
    assert v1["attributes"]["component_status"] == "deprecated"
    assert loads(v1["attributes"]["tools"]) == ["Read", "Write"]
    v2 = parse_file(folder / "agents/SummarizationAgent_v2.md").one("component_evolved")
    assert (v2["component_name"], v2["component_version"]) == ("SummarizationAgent", "2.0.0")
    assert v2["attributes"]["replaces"] == "SummarizationAgent"
    assert v2["attributes"]["component_status"] == "production"  # "Status: Production"
    assert v2["attributes"]["registry_id"] == "agent_summarizer_v2"
    assert loads(v2["attributes"]["tools"]) == ["Read", "Write", "WebFetch"]
    fetcher = parse_file(folder / "tools/WebFetcherTool.md").one("component_created")
    assert (fetcher["component_name"], fetcher["component_kind"]) == ("WebFetch", "tool")
    assert fetcher["component_version"] == "1.0.0"
    assert fetcher["attributes"]["component_status"] == "experimental"
    assert fetcher["attributes"]["component_raw_name"] == "WebFetcherTool"
    assert fetcher["attributes"]["ts_missing"] == "true"
    writer = parse_file(folder / "tools/file_writer_tool.md").one("component_created")
    assert (writer["component_name"], writer["component_version"]) == ("Write", "1.1.0")
    bullets = parse_file(LLMUNIX / "messy/agent_bullets.md", "llmunix.component").one(
        "component_evolved"
    )
    assert (bullets["component_name"], bullets["component_version"]) == ("ResearchAgent", "3.1.0")
    assert (bullets["attributes"]["replaces"], bullets["attributes"]["replaces_version"]) == (
        "ResearchAgent",
        "2.0.0",
    )
    assert loads(bullets["attributes"]["tools"]) == ["Grep", "WebFetch", "Bash"]


def test_component_template_is_quarantined():
    p = parse_file(LLMUNIX / "messy/agent_template.md", "llmunix.component")
    assert p.events == [] and p.reasons() == ["template"]


def test_chat_jsonl_tool_calls_weights_and_one_run_per_line():
    p = parse_file(FIXTURES / "chat/tools.jsonl", "chat.jsonl")
    runs = sorted({e["run_id"] for e in p.events})
    assert len(runs) == 2 and all(e["source"] == "chat-jsonl" for e in p.events)
    first = [e for e in p.events if e["source_position"] == "lines:1-1"]
    assert [e["event_type"] for e in first] == [
        "run_started",
        "agent_message",
        "agent_message",
        "tool_call",
        "tool_result",
        "agent_message",
    ]
    started, system, _user, call, result, answer = first
    assert started["goal"] == "What's the weather in Paris?"
    assert loads(started["attributes"]["tools"]) == ["get_weather"]
    assert system["attributes"]["role"] == "system"
    assert call["component_name"] == "get_weather" and loads(call["input"]) == {"city": "Paris"}
    assert call["attributes"]["weight"] == "1" and answer["attributes"]["weight"] == "0"
    assert result["parent_event_id"] == call["event_id"]
    assert loads(result["output"]) == '{"temp_c": 18}'
    second = [e for e in p.events if e["source_position"] == "lines:2-2"]
    search, fetch = [e for e in second if e["event_type"] == "tool_call"]
    assert (
        fetch["attributes"]["arguments_not_json"] == "true" and loads(fetch["input"]) == "not json"
    )
    fetch_result, search_result = [e for e in second if e["event_type"] == "tool_result"]
    assert fetch_result["parent_event_id"] == fetch["event_id"]
    assert search_result["parent_event_id"] == search["event_id"]
    assert [e for e in second if e["event_type"] == "agent_message"][1][
        "reasoning"
    ] == "Two calls needed."
    assert [(r["reason_code"], r["source_position"]) for r in p.rejected] == [
        ("schema", "lines:2-2"),
        ("schema", "lines:3-3"),
        ("bad_json", "lines:4-4"),
    ]
    assert "critic" in p.rejected[0]["reason"]


def test_chat_jsonl_legacy_function_call():
    p = parse_file(FIXTURES / "chat/legacy_functions.jsonl", "chat.jsonl")
    call, result = p.one("tool_call"), p.one("tool_result")
    assert call["attributes"]["legacy_function_call"] == "true"
    assert loads(call["input"]) == {"a": 2, "b": 3} and call["component_name"] == "add"
    assert result["parent_event_id"] == call["event_id"] and loads(result["output"]) == "5"
    assert p.one("run_started")["attributes"]["tool_format"] == "functions"


def test_chat_run_id_depends_on_the_line_not_the_file(tmp_path):
    line = (FIXTURES / "chat/legacy_functions.jsonl").read_text()
    (tmp_path / "copy.jsonl").write_text("\n" + line)
    original = parse_file(FIXTURES / "chat/legacy_functions.jsonl")
    moved = parse_file(tmp_path / "copy.jsonl")
    assert {e["run_id"] for e in moved.events} == {e["run_id"] for e in original.events}
