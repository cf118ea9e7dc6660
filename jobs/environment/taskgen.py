"""Task generation: the held-out task set (written once per task-set version to
`tasks/<version>/level<N>.jsonl`) and training tasks on demand.

Both come from one generator fed with different pools: the held-out set only from the holdout
registry, training tasks only from the simulator's catalogue, so the two never share a goal
template, a value or a capability-gap component. Each task's expert plan is built by an expert
that knows the world's regularities, then executed in the environment (random faults off); a
task whose expert plan fails is a generator bug and stops generation.

    python -m tracelake.jobs.environment.taskgen      # rewrite the held-out task files
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..simulate import catalog
from .holdout import GapComponent, holdout
from .specs import builtin_specs, capability_of, novel_spec, spec_document
from .tasks import LEVELS, TASKS_DIR, Task, task_file, task_from_record
from .world import BLOCKED_SITES, FLAKY_SITES, parse_url, search, slug, translation_needs_chunking

FAMILIES: dict[int, tuple[str, ...]] = {
    1: ("web_research_summary", "data_analysis", "content_creation"),
    2: ("market_research_technical", "literature_review_business", "multilingual_brief"),
    3: ("novel_capability",),
}
HOLDOUT_TASKS_PER_LEVEL = 60
MAX_REDRAWS = 50  # draws per task before a repeated goal is accepted
_FAMILY_TAG = {
    "web_research_summary": "web",
    "data_analysis": "data",
    "content_creation": "content",
    "market_research_technical": "market",
    "literature_review_business": "litrev",
    "multilingual_brief": "multiling",
    "novel_capability": "novel",
}
_FETCHERS = ("WebFetcherTool@1.0", "WebFetcherTool@1.1", "WebFetcherTool@1.2")
_SUMMARIZERS = ("SummarizationAgent@1.0.0", "SummarizationAgent@2.0.0")


@dataclass(frozen=True)
class Pools:
    """Where goals and values come from: the holdout registry or the simulator catalogue."""

    split: str
    templates: dict[str, tuple[str, ...]]
    values: dict[str, tuple[Any, ...]]
    gaps: tuple[GapComponent, ...]


def holdout_pools() -> Pools:
    h = holdout()
    return Pools("holdout", h.goal_templates, h.values, h.components)


def training_pools() -> Pools:
    templates: dict[str, tuple[str, ...]] = {s.name: s.goals for s in catalog.SCENARIOS}
    templates["novel_capability"] = ("{gap_goal}",)
    values = {
        "topics": catalog.TOPICS,
        "datasets": catalog.DATASETS,
        "metrics": catalog.METRICS,
        "content_kinds": catalog.CONTENT_KINDS,
        "audiences": catalog.AUDIENCES,
        "markets": catalog.MARKETS,
        "techs": catalog.TECHS,
        "industries": catalog.INDUSTRIES,
        "language_pairs": catalog.LANGUAGE_PAIRS,
    }
    gaps = tuple(
        GapComponent(n.component, n.kind, n.purpose, n.goal, n.targets, n.error)
        for n in catalog.NOVEL_NEEDS
    )
    return Pools("train", templates, values, gaps)


# Invented slot values: made-up words from these parts, or words of the catalogue's own values.
_ONSETS = ("b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z")
_ONSETS += ("br", "cr", "dr", "fl", "gr", "pl", "pr", "st", "tr", "sh", "ch", "th")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "io", "ou")
_CODAS = ("", "", "", "n", "r", "s", "l", "m", "x", "nd", "st")
_INVENTED_KEYS = {  # pool -> (words per value, joiner, file extensions)
    "topics": (1, 3, " ", ()),
    "datasets": (1, 3, "_", (".csv", ".csv", ".parquet", ".jsonl")),
    "metrics": (1, 2, " ", ()),
    "content_kinds": (1, 2, " ", ()),
    "audiences": (1, 2, " ", ()),
    "markets": (1, 3, " ", ()),
    "techs": (1, 3, " ", ()),
    "industries": (1, 2, " ", ()),
}


def invented_pools(seed: int, size: int = 400) -> Pools:
    """Training pools whose slot values are invented (`size` per pool, deterministic for `seed`):
    words made up from syllables or taken from the catalogue's values, recombined. With a few
    dozen catalogue values a model can recall every value it needs; with invented ones it must
    copy them from the goal and from earlier results, as held-out tasks require. Templates,
    language pairs and capability gaps stay the catalogue's; a value that contains a reserved
    (held-out) value is drawn again."""
    rng = random.Random(f"invented|{seed}")
    base = training_pools()
    known = sorted(
        {
            w
            for key in _INVENTED_KEYS
            for value in base.values[key]
            for w in slug(value).split("-")
            if len(w) >= 3 and not w.isdigit()
        }
    )
    reserved = [r.lower() for r in holdout().all_values() if "+" not in r]

    def word() -> str:
        if rng.random() < 0.5:
            return rng.choice(known)
        syllables = rng.choice((1, 2, 2, 3))
        return "".join(
            rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(syllables)
        )

    values: dict[str, tuple[Any, ...]] = dict(base.values)
    for key, (low, high, joiner, extensions) in _INVENTED_KEYS.items():
        drawn: set[str] = set()
        while len(drawn) < size:
            value = joiner.join(word() for _ in range(rng.randint(low, high)))
            value += rng.choice(extensions) if extensions else ""
            if not any(r in value.lower() for r in reserved):
                drawn.add(value)
        values[key] = tuple(sorted(drawn))
    return Pools("train", base.templates, values, base.gaps)


class ExpertPlan:
    """Builds an expert plan step by step, tracking the ids the environment will assign."""

    def __init__(self, components: list[str], recall: bool = False) -> None:
        specs = builtin_specs()
        self.available = set(components)
        self.active: dict[str, Any] = {}
        for key in components:
            self.active.setdefault(specs[key].name, specs[key])
        self.steps: list[dict] = []
        self.counters: dict[str, int] = {}
        self.visited: set[str] = set()
        if recall:
            self.call("recall_memory", query="past runs of this kind of goal")

    def _id(self, prefix: str) -> str:
        self.counters[prefix] = self.counters.get(prefix, 0) + 1
        return f"{prefix}-{self.counters[prefix]}"

    def call(self, tool: str, **arguments: Any) -> None:
        self.steps.append({"name": tool, "arguments": arguments})

    def search(self, query: str, site_kind: str = "news", language: str | None = None) -> str:
        args: dict[str, Any] = {"query": query, "site_kind": site_kind}
        if language:
            args["language"] = language
        self.call("SearchTool", **args)
        return search(query, site_kind, language)[0]

    def fetch(self, url: str) -> str:
        page = parse_url(url)
        assert page is not None
        fetcher = self.active["WebFetcherTool"]
        tool = "WebFetcherTool"
        if (page.site in BLOCKED_SITES and not fetcher.fallback) or (
            page.site in FLAKY_SITES
            and page.site not in self.visited
            and "http_403" not in fetcher.retry_on
        ):
            tool = "ArchiveFetcherTool"
        self.visited.add(page.site)
        self.call(tool, url=url)
        return self._id("doc")

    def translate(self, doc: str, language: str) -> str:
        spec = self.active["TranslationAgent"]
        if translation_needs_chunking(language) and "chunking" not in spec.capabilities:
            if "TranslationAgent@1.3.0" in self.available:
                self.call("evolve_component", name="TranslationAgent", version="1.3.0")
                self.active["TranslationAgent"] = builtin_specs()["TranslationAgent@1.3.0"]
            else:
                caps = [*spec.capabilities, "chunking"]
                self.call(
                    "evolve_component",
                    name="TranslationAgent",
                    version="1.4.0",
                    change_note="translate long documents in chunks so they stop timing out",
                    changes={"capabilities": caps},
                )
                self.active["TranslationAgent"] = spec.model_copy(
                    update={"capabilities": tuple(caps), "version": "1.4.0"}
                )
        self.call("TranslationAgent", input=doc, target_language="English")
        return self._id("translation")

    def make(self, name: str, kind: str, **arguments: Any) -> str:
        self.call(name, **arguments)
        return self._id(kind)


def _pick(rng: random.Random, pool: tuple[Any, ...]) -> Any:
    return pool[rng.randrange(len(pool))]


def _fill(template: str, slots: dict[str, Any]) -> str:
    goal = template.format(**slots)
    if "{file}" not in template:
        goal += f"; save it as {slots['file']}"
    return goal


def build_task(
    pools: Pools,
    level: int,
    family: str,
    rng: random.Random,
    task_id: str,
    fixed: dict[str, Any] | None = None,
    variant: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One task record (not yet checked by execution).

    `fixed` pins choices otherwise drawn from the pools (slot values, `template`, `fetcher`,
    `summarizer`, `translators`, `need`, `url`, `file`); `variant` changes the structure:
    `fanout` (compare k sources), `translate` (add a source in that language), `review` (a
    check before the file is written), `recall` (consult memory first). Expansion rebuilds a
    seed's task with some of these changed.
    """
    v = pools.values
    fixed = fixed or {}
    variant = variant or {}

    def draw(name: str, pool: tuple[Any, ...]) -> Any:
        return fixed[name] if name in fixed else _pick(rng, pool)

    template = draw("template", pools.templates[family])
    fetcher = draw("fetcher", _FETCHERS)
    summarizer = draw("summarizer", _SUMMARIZERS)
    web = ["SearchTool@1.0", fetcher, "ArchiveFetcherTool@1.0", summarizer, "FileWriterTool@1.0"]
    slots: dict[str, Any] = {}
    inputs: dict[str, Any] = {}
    gap = None
    extra_goal: list[str] = []
    plan: ExpertPlan
    final: str
    success: dict[str, Any]
    fanout = int(variant.get("fanout", 1))
    foreign = variant.get("translate")

    def sources(plan: ExpertPlan, query: str, kind: str, topic: str) -> list[str]:
        """The fetch step(s) of a single-source family, widened by fanout/translate."""
        if "{url}" in template and fanout == 1:
            slots["url"] = fixed.get("url") or search(topic, "news")[rng.randrange(3)]
            docs = [plan.fetch(slots["url"])]
        else:
            plan.search(query, kind)
            docs = [plan.fetch(u) for u in search(query, kind)[:fanout]]
            if "{url}" in template:
                slots["url"] = search(query, kind)[0]
        if foreign:
            docs.append(plan.translate(plan.fetch(plan.search(topic, "news", foreign)), foreign))
            extra_goal.append(f"include a {foreign} source translated into English")
        if fanout > 1:
            extra_goal.append(f"compare {fanout} sources")
        if len(docs) > 1:
            return [
                plan.make("AnalysisAgent", "findings", inputs=docs, question=f"compare {topic}")
            ]
        return docs

    def web_components() -> list[str]:
        comps = list(web)
        if fanout > 1 or foreign:
            comps.append("AnalysisAgent@1.0.0")
        if foreign:
            comps.extend(fixed.get("translators", ("TranslationAgent@1.3.0",)))
        return comps

    if family == "web_research_summary":
        topic = draw("topic", v["topics"])
        slots = {"topic": topic, "file": fixed.get("file") or f"reports/{slug(topic)}-summary.md"}
        components = web_components()
        plan = ExpertPlan(components, recall=bool(variant.get("recall")))
        docs = sources(plan, f"{topic} latest news", "news", topic)
        final = plan.make("SummarizationAgent", "summary", inputs=docs, focus=topic)
        success = {
            "kind": ["summary"],
            "topics": [topic],
            "min_sources": fanout,
            "language": "English",
        }
    elif family == "data_analysis":
        dataset, metric = draw("dataset", v["datasets"]), draw("metric", v["metrics"])
        path = f"data/{dataset}"
        slots = {
            "dataset": dataset,
            "metric": metric,
            "file": fixed.get("file") or f"reports/{slug(dataset)}-{slug(metric)}.md",
        }
        inputs = {path: {"kind": "dataset", "notes": dataset}}
        components = ["FileReaderTool@1.0", "AnalysisAgent@1.0.0", "FileWriterTool@1.0"]
        plan = ExpertPlan(components, recall=bool(variant.get("recall")))
        data = plan.make("FileReaderTool", "data", path=path)
        final = plan.make("AnalysisAgent", "findings", inputs=[data], question=f"find {metric}")
        success = {"kind": ["findings"], "topics": [dataset, metric], "min_sources": 1}
    elif family == "content_creation":
        topic, audience = draw("topic", v["topics"]), draw("audience", v["audiences"])
        kind = draw("content_kind", v["content_kinds"])
        slots = {
            "topic": topic,
            "audience": audience,
            "content_kind": kind,
            "file": fixed.get("file") or f"content/{slug(kind)}-{slug(topic)}.md",
        }
        components = ["ContentWriterAgent@1.0.0", "ReviewAgent@1.0.0", "FileWriterTool@1.0"]
        plan = ExpertPlan(components, recall=bool(variant.get("recall")))
        final = plan.make(
            "ContentWriterAgent", "draft", topic=topic, audience=audience, content_kind=kind
        )
        plan.call("ReviewAgent", input=final, brief=f"a {kind} about {topic} for {audience}")
        success = {"kind": ["draft"], "topics": [topic, audience], "reviewed": True}
    elif family in ("market_research_technical", "literature_review_business"):
        components = [*web, "AnalysisAgent@1.0.0"]
        plan = ExpertPlan(components, recall=bool(variant.get("recall")))
        if family == "market_research_technical":
            a, b = draw("market", v["markets"]), draw("tech", v["techs"])
            slots = {"market": a, "tech": b}
            kinds, question = ("news", "papers"), f"technical feasibility of {b} for {a}"
        else:
            a, b = draw("topic", v["topics"]), draw("industry", v["industries"])
            slots = {"topic": a, "industry": b}
            kinds, question = ("papers", "news"), f"business implications of {a} for {b}"
        slots["file"] = fixed.get("file") or f"briefs/{slug(a)}-{slug(b)}.md"
        doc_a = plan.fetch(plan.search(a, kinds[0]))
        doc_b = plan.fetch(plan.search(b, kinds[1]))
        findings = plan.make("AnalysisAgent", "findings", inputs=[doc_a, doc_b], question=question)
        final = plan.make("SummarizationAgent", "summary", inputs=[findings])
        success = {"kind": ["summary"], "topics": [a, b], "min_sources": 2, "language": "English"}
    elif family == "multilingual_brief":
        topic = draw("topic", v["topics"])
        lang1, lang2 = draw("language_pair", v["language_pairs"])
        slots = {
            "topic": topic,
            "lang1": lang1,
            "lang2": lang2,
            "file": fixed.get("file") or f"briefs/{slug(topic)}-{slug(lang1)}-{slug(lang2)}.md",
        }
        translators = draw(
            "translators",
            (
                ("TranslationAgent@1.2.0", "TranslationAgent@1.3.0"),
                ("TranslationAgent@1.2.0",),
                ("TranslationAgent@1.3.0",),
            ),
        )
        components = [*web, *translators]
        plan = ExpertPlan(components, recall=bool(variant.get("recall")))
        docs = [plan.fetch(plan.search(topic, "news", lang)) for lang in (lang1, lang2)]
        english = [plan.translate(d, lang) for d, lang in zip(docs, (lang1, lang2), strict=True)]
        final = plan.make("SummarizationAgent", "summary", inputs=english, focus=topic)
        success = {
            "kind": ["summary"],
            "topics": [topic],
            "min_sources": 2,
            "source_languages": [lang1, lang2],
            "language": "English",
        }
    elif family == "novel_capability":
        need = draw("need", pools.gaps)
        topic, target = draw("topic", v["topics"]), draw("target", need.targets)
        gap_goal = need.goal.format(topic=topic, target=target)
        slots = {
            "topic": topic,
            "target": target,
            "gap_goal": gap_goal,
            "file": fixed.get("file") or f"reports/{slug(need.name)}-{slug(topic)}.md",
        }
        components = web_components()
        plan = ExpertPlan(components, recall=bool(variant.get("recall")))
        docs = sources(plan, topic, "reference", topic)
        spec = novel_spec(need.name, need.kind, need.purpose, need.error)
        plan.call("create_component", spec=spec_document(spec))
        findings = plan.make(need.name, "findings", inputs=docs, target=target)
        final = plan.make("SummarizationAgent", "summary", inputs=[findings], focus=topic)
        cap = capability_of(need.name)
        gap = {
            "capability": cap,
            "component": need.name,
            "kind": need.kind,
            "purpose": need.purpose,
        }
        success = {
            "kind": ["summary"],
            "topics": [topic, target],
            "capability": cap,
            "language": "English",
        }
    else:
        raise ValueError(f"unknown task family {family!r}")
    if variant.get("review") and not success.get("reviewed"):
        if "ReviewAgent@1.0.0" not in components:
            components = [*components, "ReviewAgent@1.0.0"]
        plan.call("ReviewAgent", input=final)
        success["reviewed"] = True
        extra_goal.append("have it reviewed before saving")
    plan.call("FileWriterTool", path=slots["file"], source=final)
    goal = _fill(template, slots)
    if extra_goal:
        goal += "; " + "; ".join(extra_goal)
    if foreign and level == 1:
        level = 2  # a second language makes a single-domain task cross-domain
    return {
        "task_id": task_id,
        "level": level,
        "family": family,
        "goal": goal,
        "components": components,
        "max_steps": 2 * len(plan.steps) + 4,
        "budget_usd": 1.0,
        "success": {"file": slots["file"], **success},
        "capability_gap": gap,
        "inputs": inputs,
        "expert_plan": plan.steps,
        "split": pools.split,
        "slots": {k: v for k, v in slots.items() if k != "gap_goal"},
    }


def finalize(record: dict[str, Any]) -> Task:
    """Runs the expert plan (no random faults), sets the budget from what it cost, and returns
    the task; raises when the plan does not reach the success condition."""
    from .env import Environment

    task = task_from_record(record, record["task_id"])
    env = Environment(task, seed=0, random_faults=False)
    for step in task.expert_plan:
        env.call(step["name"], step["arguments"])
    outcome = env.finish("done")
    if not outcome.success:
        raise RuntimeError(f"expert plan of {task.task_id} fails: {outcome.unmet}")
    # Room for retries and a detour, not for a wasteful plan.
    record["budget_usd"] = round(max(0.02, 3.0 * outcome.cost_usd), 4)
    return task_from_record(record, record["task_id"])


def generate(pools: Pools, level: int, n: int, seed: int, prefix: str) -> list[Task]:
    """`n` tasks of one level with distinct goals (families in turn)."""
    rng = random.Random(f"{pools.split}|{level}|{seed}")
    families = FAMILIES[level]
    goals: set[str] = set()
    tasks: list[Task] = []
    for i in range(n):
        family = families[i % len(families)]
        task_id = f"{prefix}{level}-{_FAMILY_TAG[family]}-{i + 1:03d}"
        for _ in range(MAX_REDRAWS):
            record = build_task(pools, level, family, rng, task_id)
            if record["goal"] not in goals:
                break
        goals.add(record["goal"])  # a pool too small to avoid repeats still yields n tasks
        tasks.append(finalize(record))
    return tasks


def holdout_tasks(level: int) -> list[Task]:
    return generate(holdout_pools(), level, HOLDOUT_TASKS_PER_LEVEL, 0, "L")


def make_training_tasks(
    n: int, seed: int, levels: Iterable[int] = LEVELS, pools: Pools | None = None
) -> list[Task]:
    """`n` training tasks (never from the holdout registry), deterministic for `seed`; from the
    catalogue's pools unless `pools` is given (e.g. `invented_pools`)."""
    levels = tuple(levels)
    if n < 0 or not levels or set(levels) - set(LEVELS):
        raise ValueError(f"need n >= 0 and levels drawn from {LEVELS}, got {n}, {levels}")
    prefix = f"train-s{seed}-L" if pools is None else f"train-v{seed}-L"  # v: other pools
    pools = pools or training_pools()
    if pools.split != "train":
        raise ValueError(f"training tasks come from training pools, not {pools.split!r} ones")
    per = [n // len(levels) + (1 if i < n % len(levels) else 0) for i in range(len(levels))]
    out: list[Task] = []
    for level, count in zip(levels, per, strict=True):
        out.extend(generate(pools, level, count, seed, prefix))
    return out


def write_holdout(directory: Path = TASKS_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for level in LEVELS:
        path = task_file(level, directory)
        lines = [
            json.dumps(t.to_json(), sort_keys=True, ensure_ascii=False)
            for t in holdout_tasks(level)
        ]
        path.write_text("\n".join(lines) + "\n")
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in write_holdout():
        print(f"wrote {p}")
