"""Free-form goals of real runs: typed slots, the family from the run's components, the goal's
own wording kept through variations; ambiguous or incomplete goals rejected with the reason."""

from __future__ import annotations

import json

import pytest

from tracelake.jobs.environment.holdout import holdout
from tracelake.jobs.expand.expander import expand_run
from tracelake.jobs.expand.lift import LiftError, lift
from tracelake.jobs.expand.verify import verify
from tracelake.jobs.settings import ExpandSettings

from .test_expand import seed_run

WEB = (("SearchTool", "1.0"), ("WebFetcherTool", "1.0"), ("SummarizationAgent", "1.0.0"))
ANALYSIS = (*WEB, ("AnalysisAgent", "1.0.0"))
PAGE = "https://www.reuters.com/lithium-recycling-4821"
GOAL = f"Please give me a short summary of {PAGE} in English"


def test_a_free_form_goal_lifts_to_its_family_and_slots():
    s = lift(seed_run(GOAL, versions=WEB))
    assert (s.family, s.level) == ("web_research_summary", 1)
    assert s.fixed["url"] == PAGE and s.fixed["topic"] == "lithium recycling"  # by its page
    assert s.fixed["template"] == "Please give me a short summary of {url} in English"
    assert s.fixed["fetcher"] == "WebFetcherTool@1.0"

    data = lift(
        seed_run(
            "Dig into churn_cohorts.csv and tell me about cohort retention; 2 pages into out/c.md",
            versions=(("FileReaderTool", "1.0"), ("AnalysisAgent", "1.0.0")),
        )
    )
    assert data.family == "data_analysis"
    assert (data.fixed["dataset"], data.fixed["metric"], data.fixed["file"]) == (
        "churn_cohorts.csv",
        "cohort retention",
        "out/c.md",
    )
    assert (
        data.fixed["template"]
        == "Dig into {dataset} and tell me about {metric}; 2 pages into {file}"
    )


def test_variations_of_a_free_form_seed_keep_its_wording_with_new_slot_values():
    out = expand_run(
        seed_run(GOAL, versions=WEB),
        ExpandSettings(variations_per_seed=12, seed=5, transform_mix={"slot_substitution": 1.0}),
    )
    assert out.accepted and not out.rejected
    reserved = {v.lower() for v in holdout().all_values() if "+" not in v}
    for events, row in out.accepted:
        text = json.dumps(events).lower()
        assert not [r for r in reserved if r in text]  # the holdout never leaks
        steps = json.loads(row["transforms"])
        assert steps[0]["from"] == "lithium recycling"
        if steps[-1]["to"] == "lithium recycling":  # substituted back
            continue
        goal = row["goal"]
        assert (
            goal.startswith("Please give me a short summary of https://") and " in English" in goal
        )
        assert "lithium-recycling" not in goal
        calls = " ".join(e["input"] for e in events if e["event_type"] == "tool_call")
        assert "lithium" not in calls.lower()
        fetched = [
            json.loads(e["input"])["url"]
            for e in events
            if e["event_type"] == "tool_call" and e["action"].endswith("FetcherTool")
        ]
        assert fetched and all(u in goal for u in fetched)  # the goal's page is the one fetched
        assert verify(events) is None


@pytest.mark.parametrize(
    ("goal", "versions", "reason"),
    [
        (
            "Look into edge AI accelerators for logistics and vector search in telemedicine",
            ANALYSIS,
            "ambiguous family: web_research_summary or market_research_technical or "
            "literature_review_business",
        ),
        (f"Please give me a short summary of {PAGE} in French", WEB, "French, but a "),
        ("Please give me a short summary of https://example.org/news", WEB, "not a page about"),
        (
            "Write something nice about solid-state batteries",
            (("ContentWriterAgent", "1.0.0"),),
            "needs audience and content_kind",
        ),
        ("Compare lithium recycling and sodium-ion batteries news", WEB, "more than one topic"),
        ("Tell me about lithium recycling", (("FileReaderTool", "1.0"),), "no task family uses"),
        (
            f"Give me a short summary of the news on {holdout().values['topics'][0]}",
            WEB,
            "reserved for evaluation",
        ),
    ],
)
def test_free_form_goals_that_cannot_be_placed_are_rejected_with_the_reason(goal, versions, reason):
    with pytest.raises(LiftError, match="free-form seed goal") as err:
        lift(seed_run(goal, versions=versions))
    assert reason in str(err.value)
