"""Step roles: the vocabulary, Parallel blocks, collapsed repeats, unknown steps counted,
user rules from a TOML file, and closed-pattern filtering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tracelake.jobs.errors import ConfigError
from tracelake.jobs.silver import _mining, roles

T0 = datetime(2026, 3, 1, tzinfo=UTC)
RULES = roles.load_rules()


def at(ms: float) -> datetime:
    return T0 + timedelta(milliseconds=ms)


@pytest.mark.parametrize(
    ("kind", "name", "action", "role"),
    [
        ("tool", "WebFetcherTool", "fetch", "Fetch"),
        ("tool", "Grep", "search", "Search"),
        ("tool", "SearchTool", "fetch_cached", "Fetch"),
        ("tool", "FileReaderTool", "read", "Fetch"),
        ("agent", "AnalysisAgent", "delegate:analyse", "Process"),
        ("agent", "AnalysisAgent", "delegate:merge", "Merge"),
        ("agent", "SummarizationAgent", "delegate:summarize", "Summarize"),
        ("agent", "TranslationAgent", "delegate:translate", "Translate"),
        ("agent", "ReviewAgent", "delegate:review", "Check"),
        ("agent", "ContentWriterAgent", "delegate:draft", "Refine"),
        ("agent", "ContentWriterAgent", "delegate:revise", "Refine"),
        ("tool", "FileWriterTool", "write", "Output"),
        ("agent", "RegulationDiffAgent", "delegate:run", "Process"),
        ("tool", "SatelliteImageryTool", "run", "Fetch"),
        ("tool", "QuantumOracleTool", "run", "unknown"),
        ("tool", None, None, "unknown"),
    ],
)
def test_roles_come_from_action_then_name(kind, name, action, role):
    assert roles.role_of(RULES, kind, name, action) == role


def test_overlapping_steps_form_a_parallel_block_and_repeats_collapse():
    steps = [
        (at(0), at(100), "tool", "SearchTool", "search"),
        (at(200), at(900), "tool", "WebFetcherTool", "fetch"),
        (at(202), at(700), "tool", "WebFetcherTool", "fetch"),
        (at(205), at(950), "tool", "WebFetcherTool", "fetch"),
        (at(1000), at(1200), "tool", "SearchTool", "fetch_cached"),
        (at(1300), at(1400), "tool", "QuantumOracleTool", "run"),
        (at(1500), at(3000), "agent", "AnalysisAgent", "delegate:merge"),
        (at(3100), at(4000), "agent", "AnalysisAgent", "delegate:merge"),  # a retry
        (at(4100), at(5000), "agent", "SummarizationAgent", "delegate:summarize"),
        (at(5100), at(5200), "tool", "FileWriterTool", "write"),
    ]
    seq = roles.role_sequence(RULES, steps)
    assert seq.roles == ["Search", "Parallel(Fetch)", "Fetch", "Merge", "Summarize", "Output"]
    assert (seq.n_steps, seq.unknown_steps, seq.parallel_blocks) == (10, 1, 1)


def test_a_run_without_steps_has_an_empty_sequence():
    seq = roles.role_sequence(RULES, [])
    assert (seq.roles, seq.n_steps) == ([], 0)


def test_rules_from_a_file_come_first(tmp_path):
    path = tmp_path / "roles.toml"
    path.write_text('[[rule]]\nrole = "Oracle"\nname = "oracle"\n')
    rules = roles.load_rules(str(path))
    assert roles.role_of(rules, "tool", "QuantumOracleTool", "run") == "Oracle"
    assert roles.role_of(rules, "tool", "WebFetch", "fetch") == "Fetch"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[rule]]\nname = "x"\n', "needs a `role`"),
        ('[[rule]]\nrole = "X"\n', "give `action` and/or `name`"),
        ('[[rule]]\nrole = "X"\nname = "("\n', "bad pattern"),
        ('[[rule]]\nrole = "X"\nname = "x"\ncolour = "red"\n', "unknown key"),
        ("not toml ===", "cannot read it"),
    ],
)
def test_bad_role_files_fail_with_a_message(tmp_path, text, message):
    path = tmp_path / "roles.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        roles.load_rules(str(path))


def test_closed_patterns_drop_subpatterns_with_the_same_support():
    frequent = {
        ("Fetch",): 10,
        ("Output",): 9,
        ("Fetch", "Output"): 9,
        ("Fetch", "Process"): 6,
        ("Process",): 6,
        ("Fetch", "Process", "Output"): 6,
        ("Process", "Output"): 6,
    }
    kept = _mining.closed(frequent, min_length=2)
    assert kept == {("Fetch", "Output"): 9, ("Fetch", "Process", "Output"): 6}
    assert _mining.maximal(kept, list(frequent)) == {("Fetch", "Process", "Output")}
    assert _mining.best_pattern(["Fetch", "Process", "Output"], kept) == (
        "Fetch",
        "Process",
        "Output",
    )
    assert _mining.best_pattern(["Fetch", "Output"], kept) == ("Fetch", "Output")
    assert _mining.best_pattern(["Process"], kept) is None
