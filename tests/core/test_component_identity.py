"""Component identity: one canonical name per component, automatic case/separator/suffix
matching, unresolved names kept apart, and alias rules that would merge two components
rejected."""

from __future__ import annotations

import pytest

from tracelake.jobs.errors import ConfigError
from tracelake.jobs.silver import component_identity as ci
from tracelake.jobs.silver._identity_frame import version_key


@pytest.mark.parametrize(
    ("raw", "kind", "version", "expected"),
    [
        ("WebFetcherTool", "tool", "1.0", ("WebFetch", "tool", "1.0.0", True)),
        ("WebFetch", None, "1.1", ("WebFetch", "tool", "1.1.0", True)),
        ("web_fetch", "tool", "1.1", ("WebFetch", "tool", "1.1.0", True)),
        ("web-fetcher", None, None, ("WebFetch", "tool", "unversioned", True)),
        ("tool_web_fetcher_v1", None, None, ("WebFetch", "tool", "1.0.0", True)),
        ("SummarizationAgent_v2", None, "2.0.0", ("SummarizationAgent", "agent", "2.0.0", True)),
        ("summarizer", None, "1", ("SummarizationAgent", "agent", "1.0.0", True)),
        ("agent_summarizer_v2", None, None, ("SummarizationAgent", "agent", "2.0.0", True)),
        ("SEARCH_TOOL", None, "1.0", ("Grep", "tool", "1.0.0", True)),
        ("system_tool", None, None, ("Bash", "tool", "unversioned", True)),
        ("SystemAgent", "agent", "1.4.0", ("SystemAgent", "agent", "1.4.0", True)),
        ("QuantumOracleTool", "tool", "0.1", ("QuantumOracleTool", "tool", "0.1.0", False)),
        ("mystery_helper", None, None, ("MysteryHelper", None, "unversioned", False)),
    ],
)
def test_names_resolve_to_one_identity(raw, kind, version, expected):
    ident = ci.identify(raw, kind, version)
    assert (ident.component, ident.kind, ident.version, ident.resolved) == expected


def test_an_ambiguous_suffix_free_name_matches_nothing():
    # `System` could be SystemAgent or SystemTool (Bash): it is not guessed into either.
    ident = ci.identify("System")
    assert ident.resolved is False and ident.component == "System"


def test_an_alias_naming_two_components_is_an_error():
    table = {
        "WebFetch": ("tool", ("Fetcher",)),
        "FeedReader": ("tool", ("fetcher",)),
    }
    with pytest.raises(ConfigError, match="would mean both"):
        ci.build_index(table)


def test_the_shipped_alias_table_is_consistent():
    index = ci.build_index(ci.COMPONENTS)
    assert index.by_key["webfetchertool"] == "WebFetch"


def test_version_keys_sort_numerically():
    versions = ["1.10.0", "1.2.0", "1.9.0", "0.2.0"]
    assert sorted(versions, key=version_key) == ["0.2.0", "1.2.0", "1.9.0", "1.10.0"]
