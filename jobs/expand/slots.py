"""Lifting a free-form goal (one written from no known template): typed slots by pattern and
pool lookup, the task family from the run's components, and the goal's own wording kept as
the variation template with the slots as placeholders.

Slots: URLs (pages the environment can fetch; the page's slug must name a training topic),
values of the training pools (topics, datasets, metrics, audiences, ...), languages, file
names (the output file) and numbers (typed so they are never read as part of another slot;
they stay as written). Nothing is guessed: an ambiguous family, a missing or doubled required
slot, a value reserved for evaluation or a goal in the wording of an evaluation template is
a rejection with its reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..environment.holdout import holdout
from ..environment.taskgen import Pools
from ..environment.world import ENGLISH, SITE_LANGUAGE, parse_url, slug
from .transforms import SLOT_POOLS

# Slot -> the training pool its values come from (the transforms' map; language pairs are
# found from the languages named in the goal, not looked up as one value).
POOL_OF = {slot: pool for slot, pool in SLOT_POOLS.items() if slot != "language_pair"}
LANGUAGES = frozenset(SITE_LANGUAGE.values()) | {ENGLISH}
_URL = re.compile(r"https?://[^\s,;)]+")
_FILE = re.compile(r"(?<![\w/.-])(?:[\w-]+/)*[\w-]+\.(?:md|txt|csv|json|jsonl|parquet|html|pdf)\b")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])")
_FETCH = frozenset({"WebFetcherTool", "ArchiveFetcherTool"})
_WEB = frozenset({"SearchTool", *_FETCH, "SummarizationAgent"})
_ALWAYS = frozenset({"SystemAgent", "FileWriterTool", "ReviewAgent"})


@dataclass(frozen=True)
class Family:
    name: str
    needs: frozenset[str]  # components a run of this family uses
    allows: frozenset[str]  # every component it may use
    slots: tuple[str, ...]  # required slots ("language_pair": two foreign languages)
    verbs: tuple[str, ...]  # words of a goal of this family (tie-break only)


FAMILIES: tuple[Family, ...] = (
    Family(
        "web_research_summary",
        frozenset({"SummarizationAgent"}),
        _WEB | {"AnalysisAgent"},
        ("topic",),
        ("summary", "summarise", "summarize", "news", "key points"),
    ),
    Family(
        "data_analysis",
        frozenset({"FileReaderTool", "AnalysisAgent"}),
        frozenset({"FileReaderTool", "AnalysisAgent"}),
        ("dataset", "metric"),
        ("analyse", "analyze", "analysis", "data", "find"),
    ),
    Family(
        "content_creation",
        frozenset({"ContentWriterAgent"}),
        frozenset({"ContentWriterAgent"}),
        ("topic", "audience", "content_kind"),
        ("write", "draft"),
    ),
    Family(
        "market_research_technical",
        frozenset({"AnalysisAgent", "SummarizationAgent"}),
        _WEB | {"AnalysisAgent"},
        ("market", "tech"),
        ("market", "feasibility", "technical"),
    ),
    Family(
        "literature_review_business",
        frozenset({"AnalysisAgent", "SummarizationAgent"}),
        _WEB | {"AnalysisAgent"},
        ("topic", "industry"),
        ("literature", "research", "implications", "business"),
    ),
    Family(
        "multilingual_brief",
        frozenset({"TranslationAgent", "SummarizationAgent"}),
        _WEB | {"TranslationAgent"},
        ("topic", "language_pair"),
        ("brief", "translate", "sources"),
    ),
)


@dataclass(frozen=True)
class Found:
    """A typed slot found in the goal: its value and where it is written."""

    slot: str
    value: Any
    start: int
    end: int


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    body = "".join(".+?" if i % 2 else re.escape(p) for i, p in enumerate(parts))
    return re.compile("^" + body + "$", re.IGNORECASE)


_HOLDOUT_TEMPLATES = tuple(_template_regex(t) for t in sorted(holdout().all_templates()))


def find_slots(goal: str, pools: Pools) -> list[Found]:
    """Every typed slot of the goal, non-overlapping, in order of appearance."""
    found: list[Found] = []
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= a or start >= b for a, b in taken)

    def add(slot: str, value: Any, start: int, end: int) -> None:
        found.append(Found(slot, value, start, end))
        taken.append((start, end))

    for m in _URL.finditer(goal):
        add("url", m.group(0).rstrip("."), m.start(), m.start() + len(m.group(0).rstrip(".")))
    # Pool values, longest first, so "sodium-ion batteries" wins over a shorter value inside it.
    values = sorted(
        ((slot, v) for slot, pool in POOL_OF.items() for v in pools.values.get(pool, ())),
        key=lambda sv: -len(sv[1]),
    )
    for slot, value in values:
        for m in re.finditer(rf"(?<!\w){re.escape(value)}(?!\w)", goal, re.IGNORECASE):
            if free(m.start(), m.end()):
                add(slot, value, m.start(), m.end())
    for m in _FILE.finditer(goal):
        if free(m.start(), m.end()):
            add("file", m.group(0), m.start(), m.end())
    for lang in sorted(LANGUAGES):
        for m in re.finditer(rf"\b{lang}\b", goal):
            if free(m.start(), m.end()):
                add("language", lang, m.start(), m.end())
    for m in _NUMBER.finditer(goal):
        if free(m.start(), m.end()):
            add("number", m.group(0), m.start(), m.end())
    return sorted(found, key=lambda f: f.start)


def _family(used: set[str], found: list[Found], goal: str) -> Family | str:
    kinds = {f.slot for f in found}
    foreign = {f.value for f in found if f.slot == "language" and f.value != ENGLISH}
    if "topic" not in kinds and any(f.slot == "url" for f in found):
        kinds.add("topic")  # the URL's page names it (checked in _url_topic)
    if len(foreign) >= 2:
        kinds.add("language_pair")
    fits = [
        fam
        for fam in FAMILIES
        if fam.needs <= used
        and used <= fam.allows | _ALWAYS
        # a family that summarises pages needs a run that fetched some
        and (used & _FETCH or not fam.needs & {"SummarizationAgent"})
    ]
    if not fits:
        names = ", ".join(sorted(used)) or "none"
        return f"no task family uses the components this run used ({names})"
    complete = [fam for fam in fits if set(fam.slots) <= kinds]
    if not complete:
        fam = fits[0] if len(fits) == 1 else None
        if fam is not None:
            missing = [s for s in fam.slots if s not in kinds]
            return f"a {fam.name} goal needs {' and '.join(missing)}, and the goal names none"
        return (
            "the goal names the slots of none of "
            f"{', '.join(f.name for f in fits)} (found: {', '.join(sorted(kinds)) or 'none'})"
        )
    if len(complete) > 1:  # the goal's words may settle it
        words = goal.lower()
        by_verb = [fam for fam in complete if any(v in words for v in fam.verbs)]
        if len(by_verb) == 1:
            return by_verb[0]
        return f"ambiguous family: {' or '.join(f.name for f in complete)} fit components and slots"
    return complete[0]


def _url_topic(url: str, pools: Pools) -> str | None:
    page = parse_url(url)
    if page is None:
        return None
    return next((t for t in pools.values["topics"] if slug(t) == page.topic_slug), None)


def lift_free_form(
    goal: str, components: Iterable[str], pools: Pools, reserved: frozenset[str]
) -> tuple[str, dict[str, Any]] | tuple[None, str]:
    """(family, fixed task choices with the goal's own template), or (None, reason)."""
    lowered = goal.lower()
    leaked = sorted(r for r in reserved if "+" not in r and r.lower() in lowered)
    if leaked:
        return None, f"seed goal uses {leaked[0]!r}, which is reserved for evaluation"
    if any(t.match(goal) for t in _HOLDOUT_TEMPLATES):
        return None, "seed goal is worded like an evaluation goal template"
    found = find_slots(goal, pools)
    family = _family(set(components), found, goal)
    if isinstance(family, str):
        return None, family
    wanted = set(family.slots) | {"url", "file"}
    if family.name == "multilingual_brief":
        wanted |= {"language"}
    fixed: dict[str, Any] = {}
    for slot in wanted:
        values = {f.value for f in found if f.slot == slot}
        if slot != "language" and len(values) > 1:
            return None, f"the goal names more than one {slot}: {', '.join(sorted(values))}"
    urls = [f for f in found if f.slot == "url"]
    if urls:
        if family.name != "web_research_summary":
            return None, f"a {family.name} goal names no page; this one names {urls[0].value}"
        topic = _url_topic(urls[0].value, pools)
        if topic is None:
            return None, f"{urls[0].value} is not a page about a known topic"
        named = {f.value for f in found if f.slot == "topic"}
        if named and named != {topic}:
            return None, f"the goal's topic {sorted(named)[0]!r} is not the topic of its URL"
        fixed["topic"], fixed["url"] = topic, urls[0].value
    languages = [f.value for f in found if f.slot == "language"]
    foreign = [lang for lang in languages if lang != ENGLISH]
    if family.name == "multilingual_brief":
        pair = tuple(dict.fromkeys(foreign))
        if len(pair) != 2:
            return None, f"a multilingual brief needs two source languages, found {len(pair)}"
        fixed["language_pair"] = pair
    elif foreign:
        return None, f"the goal names {foreign[0]}, but a {family.name} task is English only"
    # The template: the goal with each slot the family fills replaced by its placeholder.
    out, pos, lang_n = [], 0, 0
    for f in found:
        name = f.slot
        if name == "language" and family.name == "multilingual_brief" and f.value != ENGLISH:
            lang_n += 1
            name = f"lang{lang_n}"
        elif name not in wanted or name == "language":
            continue
        out.append(goal[pos : f.start].replace("{", "{{").replace("}", "}}"))
        out.append("{" + name + "}")
        pos = f.end
        if name not in ("url", "lang1", "lang2") and name not in fixed:
            fixed[name] = f.value
    out.append(goal[pos:].replace("{", "{{").replace("}", "}}"))
    fixed["template"] = "".join(out)
    return family.name, fixed
