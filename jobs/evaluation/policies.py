"""The evaluated policies: `oracle`, `random`, `replay`, a local model directory and an
OpenAI-compatible endpoint. Each gives the episode loop (trainer/episodes.py) a per-episode
`Policy`; a model directory also gives a batched one (one generation for many episodes)."""

from __future__ import annotations

import difflib
import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from typing import Any

from ...schemas.tool_calls import ToolCall, format_tool_call
from ...trainer.episodes import BatchPolicy, Policy
from ..environment.tasks import META_TOOLS, Task

_URL = re.compile(r"https://[^\s\"',)]+")
_ID = re.compile(r"\b(?:doc|summary|findings|translation|draft|data)-\d+\b")
_PATH = re.compile(r"\b[\w./-]+\.(?:md|csv|json|txt|html)\b")
_CHANGED_FILE = re.compile(r"save the final report as (\S+) instead", re.IGNORECASE)
MAX_RETRIES = 2


def _call(name: str, arguments: dict[str, Any]) -> str:
    return format_tool_call(ToolCall(name, arguments))


def _since_last_turn(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for i in range(len(messages) - 1, -1, -1):
        if messages[i]["role"] == "assistant":
            return messages[i + 1 :]
    return []


def _replace_path(plan: list[dict[str, Any]], start: int, old: str, new: str) -> None:
    for step in plan[start:]:
        args = step["arguments"]
        if args.get("path") == old:
            step["arguments"] = {**args, "path": new}


@dataclass
class _PlanFollower:
    """Follows a plan one call per turn; retries a failed call up to MAX_RETRIES times, obeys a
    changed deliverable path, and says so when it gives up."""

    plan: list[dict[str, Any]]
    file: str | None
    retries: int = MAX_RETRIES
    index: int = 0
    tries: int = 0

    def act(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> str:
        for m in _since_last_turn(messages):
            found = _CHANGED_FILE.search(m["content"]) if m["role"] == "user" else None
            if found and self.file:
                _replace_path(self.plan, self.index, self.file, found.group(1).rstrip("."))
                self.file = found.group(1).rstrip(".")
        last_tool = next(
            (m for m in reversed(_since_last_turn(messages)) if m["role"] == "tool"), None
        )
        if last_tool is not None and str(last_tool["content"]).startswith("error:"):
            if self.tries < self.retries:
                self.tries += 1
                step = self.plan[self.index - 1]
                return _call(step["name"], dict(step["arguments"]))
            return f"I could not complete the task: {last_tool['content'][:120]}"
        self.tries = 0
        self.observe(messages)
        if self.index < len(self.plan):
            step = self.plan[self.index]
            self.index += 1
            return _call(step["name"], self.ground(dict(step["arguments"])))
        return f"Done: the deliverable is saved as {self.file}." if self.file else "Done."

    def observe(self, messages: list[dict[str, Any]]) -> None:
        """Hook for policies that ground later arguments in what they saw."""

    def ground(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return arguments


class EvalPolicy:
    """A policy under evaluation: `start(task, seed)` gives the episode's `Policy`."""

    name = "policy"
    checkpoint = "-"
    batch: BatchPolicy | None = None

    def start(self, task: Task, seed: int) -> Policy:
        raise NotImplementedError


class Oracle(EvalPolicy):
    """The task's expert plan; retries a failed call (up to MAX_RETRIES) and follows a changed
    requirement. It sees the plan, never the environment's internals."""

    name = "oracle"

    def __init__(self, retries: int = MAX_RETRIES) -> None:
        self.retries = retries

    def start(self, task: Task, seed: int) -> Policy:
        plan = [{"name": s["name"], "arguments": dict(s["arguments"])} for s in task.expert_plan]
        return _PlanFollower(plan, task.success.get("file"), self.retries).act


class RandomPolicy(EvalPolicy):
    """Valid random calls: a random tool of those offered, arguments drawn to fit its JSON schema
    from words of the goal, URLs and artifact ids seen so far; answers at random."""

    name = "random"

    def start(self, task: Task, seed: int) -> Policy:
        rng = random.Random(_seed("random", task.task_id, seed))
        words = re.findall(r"[A-Za-z][A-Za-z-]{2,}", task.goal)
        paths = _PATH.findall(task.goal)
        mean_turns = max(2, len(task.expert_plan))

        def act(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> str:
            turns = sum(1 for m in messages if m["role"] == "assistant")
            if turns and rng.random() < 1.0 / mean_turns:
                return "Done."
            seen = " ".join(str(m.get("content") or "") for m in messages[2:])
            pool = {
                "url": sorted(set(_URL.findall(task.goal + " " + seen))),
                "id": sorted(set(_ID.findall(seen))),
                "path": paths,
                "words": words,
            }
            tool = rng.choice([t for t in tools if t["function"]["name"] != "create_component"])
            fn = tool["function"]
            return _call(fn["name"], _random_args(rng, fn.get("parameters") or {}, pool))

        return act


def _random_args(rng: random.Random, schema: dict[str, Any], pool: dict[str, list[str]]) -> dict:
    props = schema.get("properties", {})
    required = set(schema.get("required", []))
    args: dict[str, Any] = {}
    for name, prop in props.items():
        if name not in required and rng.random() < 0.5:
            continue
        args[name] = _random_value(rng, name, prop, pool)
    return args


def _random_value(rng: random.Random, name: str, prop: dict[str, Any], pool: dict) -> Any:
    if "enum" in prop:
        return rng.choice(prop["enum"])
    kind = prop.get("type", "string")
    if kind == "array":
        return [
            _random_value(rng, name, prop.get("items", {}), pool)
            for _ in range(1 + rng.randrange(2))
        ]
    if kind == "integer":
        return rng.randint(1, 5)
    if kind == "object":
        return {}
    if name == "url" or prop.get("pattern") == "^https://":
        return rng.choice(pool["url"]) if pool["url"] else "https://example.org/page"
    if name in ("inputs", "input", "source") and pool["id"]:
        return rng.choice(pool["id"])
    if name == "path" and pool["path"]:
        return rng.choice(pool["path"])
    words = pool["words"] or ["report"]
    start = rng.randrange(len(words))
    return " ".join(words[start : start + 1 + rng.randrange(3)])


def _seed(*parts: Any) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")


# -- replay: retrieve the most similar training trajectory and replay its plan -------------------


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


@dataclass
class Library:
    """Training trajectories (never held out): goal + plan + the slot values of the goal."""

    tasks: list[Task]
    _index: list[tuple[set[str], Task]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._index = [(_tokens(t.goal), t) for t in self.tasks]

    def nearest(self, goal: str, level: int | None = None) -> Task:
        words = _tokens(goal)

        def score(item: tuple[set[str], Task]) -> tuple[float, int, str]:
            toks, task = item
            jac = len(words & toks) / max(1, len(words | toks))
            return (jac, int(task.level == level), task.task_id)

        return max(self._index, key=score)[1]


def default_library(n_per_level: int = 200, seed: int = 7) -> Library:
    from ..environment.taskgen import make_training_tasks

    return Library(make_training_tasks(3 * n_per_level, seed))


def slot_map(source_goal: str, target_goal: str, values: list[str]) -> dict[str, str]:
    """Each slot value of `source_goal` -> the words at the same place in `target_goal`
    (word alignment); values that do not align are left out."""
    a, b = source_goal.split(), target_goal.split()
    out: dict[str, str] = {}
    ops = difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()
    for value in values:
        vw = value.split()
        for i in range(len(a) - len(vw) + 1):
            if [w.strip(".,;:") for w in a[i : i + len(vw)]] != vw:
                continue
            for tag, i1, i2, j1, j2 in ops:
                if tag == "replace" and i1 <= i and i + len(vw) <= i2:
                    out[value] = " ".join(w.strip(".,;:") for w in b[j1:j2])
            break
    return out


class Replay(EvalPolicy):
    """The lookup baseline: replays the plan of the most similar training task, with the slot
    values of its goal mapped onto this goal, the deliverable path of this goal, and each fetched
    URL replaced by the search result at the same position. Retries like the oracle."""

    name = "replay"

    def __init__(self, library: Library | None = None) -> None:
        self.library = library or default_library()

    def start(self, task: Task, seed: int) -> Policy:
        source = self.library.nearest(task.goal, task.level)
        values = [v for v in source.slots.values() if isinstance(v, str)]
        mapping = slot_map(source.goal, task.goal, sorted(set(values), key=len, reverse=True))
        old_file, new_file = source.success.get("file"), (_PATH.findall(task.goal) or [None])[-1]
        if old_file and new_file:
            mapping[old_file] = new_file
        plan = [
            {"name": s["name"], "arguments": _substitute(s["arguments"], mapping)}
            for s in source.expert_plan
        ]
        positions = _url_positions(source.expert_plan)
        return _Grounded(plan, new_file, positions=positions).act


def _substitute(value: Any, mapping: dict[str, str]) -> Any:
    if isinstance(value, str):
        for old in sorted(mapping, key=len, reverse=True):
            value = value.replace(old, mapping[old])
        return value
    if isinstance(value, list):
        return [_substitute(v, mapping) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, mapping) for k, v in value.items()}
    return value


def _url_positions(plan: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """Each URL a plan fetches -> (which search of the plan found it, at which position)."""
    from ..environment.world import search

    out: dict[str, tuple[int, int]] = {}
    searches = 0
    for step in plan:
        args = step.get("arguments", {})
        if step["name"] == "SearchTool":
            found = search(
                args.get("query", ""), args.get("site_kind", "news"), args.get("language")
            )
            for pos, url in enumerate(found):
                out.setdefault(url, (searches, pos))
            searches += 1
    return out


@dataclass
class _Grounded(_PlanFollower):
    positions: dict[str, tuple[int, int]] = field(default_factory=dict)
    results: list[list[str]] = field(default_factory=list)

    def observe(self, messages: list[dict[str, Any]]) -> None:
        for m in _since_last_turn(messages):
            ok = not str(m["content"]).startswith("error:")
            if m["role"] == "tool" and m.get("name") == "SearchTool" and ok:
                try:
                    self.results.append(list(json.loads(m["content"]).get("urls", [])))
                except (ValueError, AttributeError):
                    self.results.append([])

    def ground(self, arguments: dict[str, Any]) -> dict[str, Any]:
        where = self.positions.get(arguments.get("url", ""))
        if where and where[0] < len(self.results) and where[1] < len(self.results[where[0]]):
            arguments["url"] = self.results[where[0]][where[1]]
        return arguments


def is_component_call(name: str) -> bool:
    return name not in META_TOOLS
