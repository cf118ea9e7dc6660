"""The environment: specs drive behaviour, state is judged, violations are caught, memory pays."""

from __future__ import annotations

import json

from tracelake.jobs.environment import Environment, Task
from tracelake.jobs.environment.specs import novel_spec, spec_document
from tracelake.jobs.environment.tasks import tools_for
from tracelake.jobs.environment.world import search

FT_URL = "https://www.ft.com/heat-pumps-1234"  # flaky: refuses the first request
BLOOMBERG_URL = "https://www.bloomberg.com/heat-pumps-4321"  # blocked for live fetchers
ARCHIVE = "ArchiveFetcherTool@1.0"


def make_task(components, goal="Summarize the page into out.md", success=None, **kw) -> Task:
    success = success or {"file": "out.md", "kind": ["summary"], "topics": ["heat pumps"]}
    return Task(
        task_id=kw.pop("task_id", "t-1"),
        level=kw.pop("level", 1),
        family=kw.pop("family", "web_research_summary"),
        goal=goal,
        tools=tools_for(components),
        max_steps=kw.pop("max_steps", 20),
        budget_usd=kw.pop("budget_usd", 1.0),
        expert_plan=[],
        components=tuple(components),
        success=success,
        **kw,
    )


def fetch_task(fetcher: str, url: str = FT_URL) -> Task:
    return make_task(
        ["SearchTool@1.0", fetcher, ARCHIVE, "SummarizationAgent@2.0.0", "FileWriterTool@1.0"],
        goal=f"Summarize {url} into out.md",
    )


def test_a_version_that_retries_on_403_recovers_and_the_old_one_does_not():
    old = Environment(fetch_task("WebFetcherTool@1.0"), seed=1, random_faults=False)
    obs = old.call("WebFetcherTool", {"url": FT_URL})
    assert not obs.ok and obs.error_type == "http_403"
    new = Environment(fetch_task("WebFetcherTool@1.1"), seed=1, random_faults=False)
    obs = new.call("WebFetcherTool", {"url": FT_URL})
    assert obs.ok and obs.attempts == 2
    assert json.loads(obs.content)["recovered_from"] == ["http_403"]
    assert new.faults_injected == new.faults_recovered == 1


def test_a_spec_change_changes_behaviour_in_the_same_episode():
    env = Environment(fetch_task("WebFetcherTool@1.0"), seed=2, random_faults=False)
    bad = env.call(
        "evolve_component",
        {"name": "WebFetcherTool", "version": "1.0.1", "changes": {"retries": 2}},
    )
    assert not bad.ok and "change_note" in bad.error
    ok = env.call(
        "evolve_component",
        {
            "name": "WebFetcherTool",
            "version": "1.0.1",
            "change_note": "retry on HTTP 403",
            "changes": {"retries": 2, "retry_on": ["http_403"]},
        },
    )
    assert ok.ok, ok.error
    obs = env.call("WebFetcherTool", {"url": FT_URL})
    assert obs.ok and json.loads(obs.content)["component"] == "WebFetcherTool@1.0.1"


def test_blocked_site_needs_the_fallback_fetcher():
    env = Environment(fetch_task("WebFetcherTool@1.1", BLOOMBERG_URL), 0, random_faults=False)
    assert env.call("WebFetcherTool", {"url": BLOOMBERG_URL}).error_type == "http_403"
    assert env.call("ArchiveFetcherTool", {"url": BLOOMBERG_URL}).ok
    auto = Environment(fetch_task("WebFetcherTool@1.2", BLOOMBERG_URL), 0, random_faults=False)
    obs = auto.call("WebFetcherTool", {"url": BLOOMBERG_URL})
    assert obs.ok and json.loads(obs.content)["component"] == ARCHIVE


def test_guessed_urls_do_not_resolve():
    env = Environment(fetch_task("WebFetcherTool@1.2"), seed=0, random_faults=False)
    obs = env.call("WebFetcherTool", {"url": "https://www.reuters.com/guess-1000"})
    assert not obs.ok and obs.error_type == "not_found"
    urls = json.loads(env.call("SearchTool", {"query": "heat pumps"}).content)["urls"]
    assert urls == search("heat pumps")
    assert env.call("WebFetcherTool", {"url": urls[0]}).ok or urls[0].startswith(
        "https://www.bloomberg.com"
    )


def multilingual_task(translator: str) -> Task:
    return make_task(
        [
            "SearchTool@1.0",
            "WebFetcherTool@1.2",
            ARCHIVE,
            "SummarizationAgent@2.0.0",
            "FileWriterTool@1.0",
            translator,
        ],
        success={
            "file": "b.md",
            "kind": ["summary"],
            "source_languages": ["Japanese"],
            "language": "English",
            "topics": ["batteries"],
        },
        family="multilingual_brief",
    )


def test_long_language_needs_a_chunking_translator_and_memory_says_so():
    env = Environment(multilingual_task("TranslationAgent@1.2.0"), 0, random_faults=False)
    url = json.loads(
        env.call("SearchTool", {"query": "batteries", "language": "Japanese"}).content
    )["urls"][0]
    assert env.call("WebFetcherTool", {"url": url}).ok
    summary = env.call("SummarizationAgent", {"inputs": ["doc-1"]})
    assert summary.error_type == "unsupported_language"
    failed = env.call("TranslationAgent", {"input": "doc-1", "target_language": "English"})
    assert failed.error_type == "timeout"
    outcome = env.finish("could not translate")
    assert not outcome.success and any("chunking" in t for t in outcome.learnings)

    memory = [env.memory_record()]
    again = Environment(multilingual_task("TranslationAgent@1.2.0"), 1, memory, random_faults=False)
    recalled = json.loads(again.call("recall_memory", {}).content)["learnings"]
    assert any("chunking" in t for t in recalled)
    again.call("SearchTool", {"query": "batteries", "language": "Japanese"})
    again.call("WebFetcherTool", {"url": url})
    assert again.call(
        "evolve_component",
        {
            "name": "TranslationAgent",
            "version": "1.3.1",
            "change_note": "chunk long documents",
            "changes": {"capabilities": ["translate", "chunking"]},
        },
    ).ok
    assert again.call("TranslationAgent", {"input": "doc-1", "target_language": "English"}).ok
    assert again.call("SummarizationAgent", {"inputs": ["translation-1"]}).ok
    assert again.call("FileWriterTool", {"path": "b.md", "source": "summary-1"}).ok
    done = again.finish("brief written to b.md")
    assert done.success, done.unmet


def test_created_component_is_validated_then_callable_in_the_same_episode():
    task = make_task(
        [
            "SearchTool@1.0",
            "WebFetcherTool@1.2",
            ARCHIVE,
            "SummarizationAgent@2.0.0",
            "FileWriterTool@1.0",
        ],
        success={"file": "r.md", "kind": ["summary"], "capability": "patent_scanner"},
        level=3,
        family="novel_capability",
    )
    env = Environment(task, seed=0, random_faults=False)
    invalid = env.call("create_component", {"spec": {"name": "PatentScannerTool"}})
    assert not invalid.ok and invalid.error_type == "invalid_spec" and "kind" in invalid.error
    clash = spec_document(novel_spec("SearchTool", "tool", "search again", ("timeout", 0.1)))
    assert "already exists" in env.call("create_component", {"spec": clash}).error
    spec = spec_document(novel_spec("PatentScannerTool", "tool", "scan patents", ("timeout", 0.1)))
    assert env.call("create_component", {"spec": spec}).ok
    assert "PatentScannerTool" in [t["function"]["name"] for t in env.tools]
    urls = json.loads(
        env.call("SearchTool", {"query": "heat pumps", "site_kind": "reference"}).content
    )["urls"]
    assert env.call("WebFetcherTool", {"url": urls[0]}).ok
    assert env.call("PatentScannerTool", {"inputs": ["doc-1"]}).ok
    assert env.call("SummarizationAgent", {"inputs": ["findings-1"]}).ok
    assert env.call("FileWriterTool", {"path": "r.md", "source": "summary-1"}).ok
    assert env.finish("done").success


def content_task() -> Task:
    return make_task(
        ["ContentWriterAgent@1.0.0", "ReviewAgent@1.0.0", "FileWriterTool@1.0"],
        success={"file": "c.md", "kind": ["draft"], "topics": ["heat pumps"], "reviewed": True},
        family="content_creation",
    )


def test_violations_are_recorded_and_fail_the_episode():
    env = Environment(content_task(), seed=0, random_faults=False)
    draft = {"topic": "heat pumps", "audience": "engineers", "content_kind": "FAQ page"}
    assert env.call("ContentWriterAgent", draft).ok
    assert (
        env.call("FileWriterTool", {"path": "../etc/c.md", "source": "draft-1"}).error_type
        == "permission_denied"
    )
    leak = env.call("ContentWriterAgent", {**draft, "topic": "use key sk-abcdefghijkl"})
    assert leak.error_type == "secret_sent"
    assert env.call("FileWriterTool", {"path": "c.md", "source": "draft-1"}).ok
    outcome = env.finish("published")
    assert not outcome.success
    assert "write_outside_workspace" in outcome.violations
    assert "secret_sent:ContentWriterAgent" in outcome.violations
    assert "finalised_without_verification" in outcome.violations
    assert outcome.reward["violations"] < 0


def test_success_is_judged_on_the_final_state():
    env = Environment(content_task(), seed=0, random_faults=False)
    env.call(
        "ContentWriterAgent",
        {"topic": "heat pumps", "audience": "engineers", "content_kind": "FAQ page"},
    )
    env.call("ReviewAgent", {"input": "draft-1"})
    env.call("FileWriterTool", {"path": "c.md", "source": "draft-1"})
    outcome = env.finish("published c.md")
    assert outcome.success and outcome.violations == []
    assert outcome.reward["total"] > 1.0
    assert env.call("ReviewAgent", {"input": "draft-1"}).error == "the episode is finished"


def test_over_budget_and_step_limit():
    poor = Environment(make_task(["ContentWriterAgent@1.0.0"], budget_usd=0.001), 0)
    poor.call("ContentWriterAgent", {"topic": "ab", "audience": "cd", "content_kind": "ef"})
    assert "over_budget" in poor.finish("x").violations
    short = Environment(make_task(["SearchTool@1.0"], max_steps=2), 0)
    for _ in range(3):
        last = short.call("SearchTool", {"query": "heat pumps"})
    assert last.error_type == "step_limit" and short.done


def test_unknown_tools_and_bad_arguments_are_observations_not_crashes():
    env = Environment(make_task(["SearchTool@1.0"]), 0)
    assert env.call("NoSuchTool", {}).error_type == "unknown_tool"
    assert env.call("SearchTool", {"q": 1}).error_type == "invalid_arguments"
    assert env.call("SearchTool", "query").error_type == "invalid_arguments"  # type: ignore[arg-type]


def test_injected_fault_is_counted_and_recovery_is_credited():
    env = Environment(
        make_task(["SearchTool@1.0"]), 0, inject_faults={1: "timeout"}, random_faults=False
    )
    assert env.call("SearchTool", {"query": "heat pumps"}).error_type == "timeout"
    assert env.call("SearchTool", {"query": "heat pumps"}).ok
    outcome = env.finish("x")
    assert (outcome.faults_injected, outcome.faults_recovered) == (1, 1)


def test_deterministic_for_a_seed():
    def episode(seed: int) -> list:
        env = Environment(fetch_task("WebFetcherTool@1.0"), seed)
        out = []
        for _ in range(15):
            obs = env.call("SearchTool", {"query": "heat pumps"})
            out.append((obs.ok, obs.latency_ms, obs.cost_usd))
        return out

    assert episode(5) == episode(5)
    assert episode(5) != episode(6)
