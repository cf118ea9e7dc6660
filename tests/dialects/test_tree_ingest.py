"""A whole llmunix project tree through the real ingest job, into real Delta tables."""

from __future__ import annotations

import shutil

import pytest
from dialects.dialect_support import LLMUNIX, PROJECT, text_at

from tracelake.jobs.ingest import job
from tracelake.jobs.lake import catalog

LLMUNIX_DIALECTS = {
    "llmunix.component": 4,  # the four definitions under components/
    "llmunix.kernel_trace": 1,
    "llmunix.kernel_history": 1,
    "llmunix.execution_state": 1,
    "llmunix.execution_trace": 1,
    "llmunix.memory_log": 1,
    "llmunix.memory_note": 2,
    "llmunix.communication_log": 1,
    "llmunix.state_constraints": 1,
    "llmunix.state_context": 1,
    "llmunix.state_history": 1,
    "llmunix.state_plan": 1,
    "llmunix.state_variables": 1,
    "llmunix.decision_records": 1,
}


@pytest.fixture
def tree(tmp_path):
    target = tmp_path / "llmunix-project"
    shutil.copytree(PROJECT, target)
    return target


def test_whole_project_tree_in_one_call_then_reingest_adds_nothing(ctx, tree):
    first = job.run(ctx, [str(tree)])
    per_dialect = first.details["per_dialect"]
    assert {k: v["files"] for k, v in per_dialect.items() if k.startswith("llmunix.")} == (
        LLMUNIX_DIALECTS
    )
    assert per_dialect["unknown"] == {"files": 1, "records": 1, "events": 0, "quarantined": 1}
    assert all(v["events"] > 0 for k, v in per_dialect.items() if k != "unknown")
    events = ctx.lake.read(catalog.BRONZE_EVENTS).to_pylist()
    assert len(events) == first.rows_out == sum(v["events"] for v in per_dialect.values())
    runs = {e["run_id"] for e in events}
    assert {
        "exec_research_001",
        "exec_legacy_007",
        "kexec_042",
        "exp_001",
        "exp_002",
        "7a8db31338d9fd2c",
        "trace_arxiv_research",
    } <= runs
    research = [e for e in events if e["run_id"] == "exec_research_001"]
    assert {e["dialect"] for e in research} == {
        "llmunix.state_plan",
        "llmunix.state_context",
        "llmunix.state_history",
        "llmunix.state_variables",
        "llmunix.state_constraints",
        "llmunix.communication_log",
    }
    quarantine = ctx.lake.read(catalog.BRONZE_QUARANTINE).to_pylist()
    assert [q["reason_code"] for q in quarantine] == ["not_a_trace"]
    assert quarantine[0]["source_uri"].endswith("README.md")

    again = job.run(ctx, [str(tree)])
    assert again.rows_out == 0 and again.rows_quarantined == 0
    assert again.rows_duplicate == len(events) + len(quarantine)  # quarantined before
    assert ctx.lake.count(catalog.BRONZE_EVENTS) == len(events)
    assert ctx.lake.count(catalog.BRONZE_QUARANTINE) == 1


def test_stored_events_point_back_at_their_text(ctx, tree):
    job.run(ctx, [str(tree)])
    events = ctx.lake.read(catalog.BRONZE_EVENTS).to_pylist()
    checked = 0
    for event in events:
        assert event["source_uri"] and event["source_position"], event["event_id"]
        text = text_at(event["source_uri"], event["source_position"])
        assert text.strip(), f"{event['dialect']} {event['source_position']} points at nothing"
        attrs = dict(event["attributes"] or [])
        raw_name = attrs.get("component_raw_name")
        if raw_name and event["dialect"] != "llmunix.component":
            assert raw_name in text, (event["dialect"], event["source_position"], raw_name)
            checked += 1
        if event["reasoning"] and event["dialect"] != "chat.jsonl":
            assert event["reasoning"][:30] in text, (event["dialect"], event["source_position"])
            checked += 1
        if event["event_type"] == "tool_result" and event["cost_usd"]:
            assert "$" in text
            checked += 1
    assert checked >= 25


def test_format_flag_forces_a_dialect(ctx, tmp_path):
    path = tmp_path / "notes.txt"  # no telling name, and content another dialect could claim
    shutil.copy(PROJECT / "projects/KernelProject/workspace/history.md", path)
    forced = job.run(ctx, [str(path)], format="llmunix.kernel_history")
    assert forced.details["per_dialect"]["llmunix.kernel_history"]["events"] == 10
    wrong = job.run(ctx, [str(LLMUNIX / "messy/agent_template.md")], format="chat.jsonl")
    assert wrong.rows_out == 0
    assert wrong.details["per_dialect"]["chat.jsonl"]["quarantined"] >= 1


def test_messy_files_store_their_readable_parts_and_quarantine_the_rest(ctx):
    result = job.run(ctx, [str(LLMUNIX / "messy")])
    per_dialect = result.details["per_dialect"]
    assert per_dialect["llmunix.execution_state"]["files"] == 2
    assert per_dialect["llmunix.execution_state"]["quarantined"] == 4
    quarantine = ctx.lake.read(catalog.BRONZE_QUARANTINE).to_pylist()
    templates = [q for q in quarantine if q["reason_code"] == "template"]
    assert {q["source_uri"].rsplit("/", 1)[-1] for q in templates} == {
        "execution_state_template.md",
        "execution_state_messy.md",
        "memory_log_frontmatter.md",
        "agent_template.md",
    }
    stored = ctx.lake.read(catalog.BRONZE_EVENTS, columns=["goal", "run_id"]).to_pylist()
    assert not any("[Goal Title]" in (e["goal"] or "") for e in stored)


def test_same_bytes_at_two_paths_are_two_sources(ctx, tmp_path):
    """Run ids derived from paths differ, so the second file is not a retry of the first."""
    source = next(PROJECT.rglob("workspace/state/history.md"))
    copies = []
    for project in ("ProjectA", "ProjectB"):
        target = tmp_path / "projects" / project / "workspace" / "state" / "history.md"
        target.parent.mkdir(parents=True)
        target.write_bytes(source.read_bytes())
        copies.append(target)
    first = job.run(ctx, [str(copies[0])])
    second = job.run(ctx, [str(copies[1])])
    assert first.rows_out > 0
    assert second.rows_out == first.rows_out
    runs = {r["run_id"] for r in ctx.lake.read(catalog.BRONZE_EVENTS).to_pylist()}
    assert len(runs) == 2
