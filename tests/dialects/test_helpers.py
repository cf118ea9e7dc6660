"""Units, component names and tolerant markdown reading."""

from __future__ import annotations

import pytest

from tracelake.jobs.ingest import markdown as md
from tracelake.jobs.ingest.component_names import normalise_version, resolve
from tracelake.jobs.ingest.dialects._build import goal_signature
from tracelake.jobs.ingest.units import (
    parse_cost,
    parse_duration,
    parse_fraction,
    parse_outcome,
    parse_status,
    parse_timestamp,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("8.3s", 8.3),
        ("3m 42s", 222.0),
        ("250ms", 0.25),
        ("1h 5m", 3900.0),
        ("2.5 minutes", 150.0),
        ("00:03:42", 222.0),
        ("12", 12.0),
        (7, 7.0),
        ("soon", None),
        ("3m and change", None),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "dollars"),
    [
        ("$0.012", 0.012),
        ("~$1.50", 1.5),
        ("0.5 USD", 0.5),
        ("$0,25", 0.25),
        ("free", None),
        ("-$1", None),
    ],
)
def test_costs(text, dollars):
    assert parse_cost(text) == dollars


def test_fractions_statuses_outcomes_and_times():
    assert parse_fraction("50%") == 0.5 and parse_fraction("85") == 0.85
    assert parse_fraction("0.9") == 0.9 and parse_fraction("lots") is None
    assert parse_status("✅") == "ok" and parse_status("❌ failed") == "error"
    assert parse_status("COMPLETED_SUCCESS") == "ok" and parse_status("⏳ pending") == "pending"
    assert parse_status("⏭️") == "skipped" and parse_status("whatever") is None
    assert parse_outcome("success_with_recovery") == "success_with_recovery"
    assert parse_outcome("⚠️ Partial: 12 of 15") == "partial"
    assert parse_outcome("❌ failure") == "failure" and parse_outcome("meh") is None
    assert parse_timestamp("2024-01-05 14:00:00").isoformat() == "2024-01-05T14:00:00+00:00"
    assert parse_timestamp("2024-03-01T10:00:00+02:00").hour == 8
    assert parse_timestamp("last tuesday") is None


@pytest.mark.parametrize(
    ("raw", "name", "kind", "version"),
    [
        ("WebFetcherTool", "WebFetch", "tool", None),
        ("tool_web_fetcher_v1", "WebFetch", "tool", "1.0.0"),
        ("agent_summarizer_v2", "SummarizationAgent", "agent", "2.0.0"),
        ("SummarizationAgent_v2", "SummarizationAgent", "agent", "2.0.0"),
        ("FileWriterTool", "Write", "tool", None),
        ("file_reader_tool", "Read", "tool", None),
        ("SearchTool", "Grep", "tool", None),
        ("SystemTool", "Bash", "tool", None),
        ("SubTaskTool", "Task", "tool", None),
        ("web-fetcher-tool", "WebFetch", "tool", None),
        ("research_agent", "ResearchAgent", "agent", None),
        ("Bash", "Bash", "tool", None),
    ],
)
def test_component_names_resolve_to_one_canonical_name(raw, name, kind, version):
    ref = resolve(raw)
    assert (ref.name, ref.kind, ref.version) == (name, kind, version)


def test_explicit_version_wins_and_chat_names_are_kept():
    assert resolve("SummarizationAgent_v2", version="2.1").version == "2.1.0"
    assert resolve("get_weather", camelise=False).name == "get_weather"
    assert resolve("WebFetcherTool", camelise=False).name == "WebFetch"
    assert normalise_version("v1") == "1.0.0" and normalise_version("beta-2") == "beta-2"


def test_goal_signature_normalises_case_punctuation_and_spaces():
    assert goal_signature("Research  AI safety!") == goal_signature("research ai, safety")
    assert len(goal_signature("x")) == 16
    assert goal_signature("a b") != goal_signature("ab")


def test_markdown_title_spill_doubled_rules_and_key_styles():
    lines = md.lines_of(
        "# Execution State: Build a weekly\ncompetitor digest\n\n## Metadata\n"
        "- **Execution ID**: e1\n**Start Time:** 2024-01-01\n- status: done\n"
        "- **items**:\n  - a\n  - b\n---\n---\ntail\n"
    )
    secs = md.sections(lines)
    assert secs[0].title == "Execution State: Build a weekly competitor digest"
    kvs = md.kv_dict(md.key_values(secs[1].body))
    assert kvs["execution_id"].value == "e1" and kvs["start_time"].value == "2024-01-01"
    assert kvs["status"].value == "done" and kvs["items"].items == ["a", "b"]
    assert kvs["items"].range == (8, 10)
    chunks = md.split_on_rules(lines)
    assert [ln.text for ln in chunks[-1]] == ["tail"]  # doubled `---` leave no empty chunk


def test_a_paragraph_under_a_section_heading_is_not_part_of_its_title():
    secs = md.sections(md.lines_of("## Knowledge\nPast runs hit 403.\n"))
    assert secs[0].title == "Knowledge"
    assert md.paragraph_text(secs[0].body) == "Past runs hit 403."


@pytest.mark.parametrize(
    ("value", "placeholder"),
    [
        ("[Goal Title]", True),
        ("To be populated", True),
        ("{{goal}}", True),
        ("<execution id>", True),
        ("YYYY-MM-DD HH:MM:SS", True),
        ("TBD", True),
        ("[web_fetcher, summarizer]", False),
        ("[WebFetcherTool]", False),
        ("[es, fr]", False),
        ("Find papers", False),
    ],
)
def test_template_placeholders(value, placeholder):
    assert md.is_placeholder(value) is placeholder
