"""Simulated LLM-OS runs: a SystemAgent receives a goal, consults memory, plans, selects or
creates components, calls tools and delegates to agents, meets failures and recovers (or not),
records what it learned.

`generate_runs(seed, runs)` is the pure API: the same seed yields the same event dicts, and a
longer simulation starts with exactly the runs of a shorter one.
"""

from __future__ import annotations

import bisect
import math
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from tracelake.schemas.identity import goal_signature

from ..environment.specs import simulator_spec_document
from .catalog import (
    AUDIENCES,
    CONTENT_KINDS,
    DATASETS,
    FOREIGN_TITLES,
    INDUSTRIES,
    LANGUAGE_PAIRS,
    MARKETS,
    METRICS,
    SCENARIOS,
    TECHS,
    TOPICS,
    NovelNeed,
    Scenario,
    VersionSpec,
)
from .clock import IsoFormatter, run_start_us
from .recorder import Component, RunRecorder
from .world import ComponentState, Experience, World

# Part of every run id: bump it whenever the output for a seed changes, so runs of different
# simulator versions never share event ids (which ingest would report as conflicts).
SIMULATOR_VERSION = 3  # 2: component events carry their executable spec; 3: call arguments
# follow the component specs (jobs/environment/components.yaml) and name workspace artifacts
# A retried call fails this many times more often than a first attempt.
RETRY_ERROR_FACTOR = 3.0
# Share of HTTP 403 fallbacks that find a cached copy of the page.
CACHE_HIT_RATE = 0.7

Event = dict[str, Any]

_CUM_WEIGHTS = list(accumulate(s.weight for s in SCENARIOS))
_SITES = {
    "news": ("www.reuters.com", "www.ft.com", "techcrunch.com", "www.bloomberg.com"),
    "reference": ("en.wikipedia.org", "ourworldindata.org", "www.iea.org", "www.oecd.org"),
    "papers": ("arxiv.org", "www.nature.com", "papers.ssrn.com", "scholar.archive.org"),
    "foreign": ("www.heise.de", "www.lemonde.fr", "www.nikkei.com", "elpais.com"),
}
_NON_SLUG = re.compile(r"[^a-z0-9]+")


def _slug(text: str) -> str:
    return _NON_SLUG.sub("-", text.lower()).strip("-")


class RunAborted(Exception):
    """An unrecoverable failure: the run ends with run_failed."""

    def __init__(self, error_type: str, message: str, component: Component) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.component = component


@dataclass(frozen=True)
class PlanStep:
    number: int
    role: str  # what the executor does: search, fetch, parallel_fetch, read, summarize, ...
    component: str
    action: str
    reason: str


def _comp(state: ComponentState) -> Component:
    v = state.current
    return (state.spec.name, state.spec.kind, v.version)


class RunSimulation:
    """Executes one run against the world, appending its events to a RunRecorder."""

    def __init__(
        self, world: World, rng: random.Random, rec: RunRecorder, scenario: Scenario, slots: dict
    ) -> None:
        self.world = world
        self.rng = rng
        self.rec = rec
        self.scenario = scenario
        self.slots = slots
        self.system = _comp(world.component("SystemAgent"))
        self.need: NovelNeed | None = slots.get("need")
        self.goal: str = slots["goal"]
        self.problems: list[tuple[str, str, str]] = []  # (component, error_type, strategy)
        self.urls: list[str] = []
        self.texts: list[str] = []
        # Workspace artifacts, named as the environment names them (doc-1, findings-1, ...):
        # `docs` are what the next processing step consumes (aligned with `texts` while they
        # are fetched documents), `final` is what the write step delivers.
        self.ids: dict[str, int] = {}
        self.docs: list[str] = []
        self.final: str | None = None
        self.steps_done = 0
        self.started_us = rec.now

    # -- sampling --------------------------------------------------------------------------

    def _latency(self, v: VersionSpec) -> float:
        typical, spread = v.latency_ms
        return round(typical * math.exp(spread * self.rng.gauss(0.0, 1.0)), 1)

    def _tokens(self, v: VersionSpec, scale: float = 1.0) -> tuple[int, int]:
        r = self.rng.random
        tin, tout = v.tokens
        return int(tin * scale * (0.6 + 0.8 * r())), int(tout * scale * (0.6 + 0.8 * r()))

    def _error(self, v: VersionSpec, attempt: int = 1) -> str | None:
        # A retry meets the same input and the same service: failures cluster.
        r = self.rng.random() / (RETRY_ERROR_FACTOR if attempt > 1 else 1.0)
        for error_type, p in v.errors:
            if r < p:
                return error_type
            r -= p
        return None

    def _system_think(self, scale: float = 1.0) -> tuple[tuple[int, int], float]:
        v = self.world.component("SystemAgent").current
        latency = self._latency(v) * scale
        self.rec.wait(latency)
        return self._tokens(v, scale), round(latency, 1)

    def _next_id(self, prefix: str) -> str:
        """The id the next artifact of this kind gets (a call's output names it before the
        call succeeds; `_take_id` then makes it so)."""
        return f"{prefix}-{self.ids.get(prefix, 0) + 1}"

    def _take_id(self, prefix: str) -> str:
        self.ids[prefix] = self.ids.get(prefix, 0) + 1
        return f"{prefix}-{self.ids[prefix]}"

    # -- tools -------------------------------------------------------------------------------

    def _tool_once(
        self,
        state: ComponentState,
        action: str,
        args: dict,
        ok: dict,
        parent: str | None,
        attempt: int = 1,
    ) -> tuple[str, str | None, str]:
        comp = _comp(state)
        v = state.current
        call = self.rec.emit("tool_call", comp, action, parent=parent, input=args)
        latency = self._latency(v)
        err = self._error(v, attempt)
        state.record(err)
        self.rec.wait(latency)
        if err is None:
            result = self.rec.emit(
                "tool_result",
                comp,
                action,
                parent=call,
                output=ok,
                status="ok",
                latency_ms=latency,
                cost_usd=0.0,
            )
            return result, None, ""
        message = self._error_message(state.spec.name, err, args, latency)
        result = self.rec.emit(
            "tool_result",
            comp,
            action,
            parent=call,
            output={"error": err},
            status="error",
            error=message,
            error_type=err,
            latency_ms=latency,
            cost_usd=0.0,
        )
        return result, err, message

    def _error_message(self, name: str, err: str, args: dict, latency: float) -> str:
        target = args.get("url") or args.get("path") or args.get("query") or name
        if err == "http_403":
            return f"HTTP 403 Forbidden fetching {target}"
        if err == "timeout":
            return f"{name} timed out after {latency / 1000:.1f}s on {target}"
        if err == "file_not_found":
            return f"FileNotFoundError: [Errno 2] No such file or directory: '{target}'"
        if err == "permission_denied":
            return f"PermissionError: [Errno 13] Permission denied: '{target}'"
        if err == "cache_miss":
            return f"no cached copy of {target}"
        return f"{name} returned output that does not match the expected format for {target}"

    def tool(
        self,
        name: str,
        action: str,
        args: dict,
        ok: dict,
        *,
        parent: str | None = None,
        optional: bool = False,
    ) -> str | None:
        """Call a tool and handle its failures: retry timeouts, fall back to the search
        cache on HTTP 403, write elsewhere on permission errors, skip optional work.
        Returns the successful tool_result id, or None when the call was skipped."""
        state = self.world.component(name)
        attempt = 1
        while True:
            result, err, message = self._tool_once(state, action, args, ok, parent, attempt)
            if err is None:
                return result
            comp = _comp(state)
            error = self.rec.emit(
                "error",
                comp,
                action,
                parent=result,
                status="error",
                error=message,
                error_type=err,
                attributes={"attempt": str(attempt)},
            )
            self.rec.wait(200 + 400 * self.rng.random())
            if err == "timeout" and attempt < 3:
                attempt += 1
                backoff = 2 ** (attempt - 1)
                parent = self._recover(
                    comp,
                    error,
                    "retry",
                    f"transient timeout; retry {attempt - 1} of 2 after {backoff}s backoff",
                    {"attempt": str(attempt)},
                )
                self.rec.wait(backoff * 1000)
                continue
            if err == "http_403":
                self.problems.append((name, err, "fallback"))
                recovery = self._recover(
                    comp,
                    error,
                    "fallback",
                    "the site refuses automated fetches; a 403 will "
                    "not go away on retry, so read the search engine's cached copy instead",
                    {"fallback_to": "SearchTool"},
                )
                search = self.world.component("SearchTool")
                cached = {"url": args["url"], "cached": True, "bytes": ok.get("bytes", 0)}
                if "doc" in ok:
                    cached["doc"] = ok["doc"]
                if self.rng.random() < CACHE_HIT_RATE:
                    return self._fallback_result(search, args, cached, recovery, None)
                self._fallback_result(search, args, cached, recovery, "cache_miss")
                err, message = "cache_miss", f"no cached copy of {args['url']}"
            elif err == "permission_denied":
                self.problems.append((name, err, "fallback"))
                path = "workspace/output/fallback/" + args["path"].rsplit("/", 1)[-1]
                recovery = self._recover(
                    comp,
                    error,
                    "fallback",
                    "output directory is read-only; write to the "
                    "fallback directory and report the new path",
                    {"fallback_to": name},
                )
                args = {**args, "path": path}
                result, err2, message = self._tool_once(state, action, args, ok, recovery)
                if err2 is None:
                    return result
                err = err2
            if err == "timeout":
                self.problems.append((name, err, "retry"))
            if optional:
                self.problems.append((name, err, "skip"))
                self._recover(
                    comp,
                    error,
                    "skip",
                    "this source is optional; continue with the others",
                    {"skipped": args.get("url") or action},
                )
                return None
            raise RunAborted(err, message, comp)

    def _fallback_result(
        self,
        search: ComponentState,
        args: dict,
        ok: dict,
        parent: str,
        forced_error: str | None,
    ) -> str | None:
        comp = _comp(search)
        # The search engine's cached copy: a SearchTool query for the page (its spec has no url).
        call = self.rec.emit(
            "tool_call",
            comp,
            "fetch_cached",
            parent=parent,
            input={"query": f"cache:{args['url']}"},
        )
        latency = self._latency(search.current)
        self.rec.wait(latency)
        search.record(forced_error)
        if forced_error is None:
            return self.rec.emit(
                "tool_result",
                comp,
                "fetch_cached",
                parent=call,
                output=ok,
                status="ok",
                latency_ms=latency,
                cost_usd=0.0,
            )
        self.rec.emit(
            "tool_result",
            comp,
            "fetch_cached",
            parent=call,
            output={"error": forced_error},
            status="error",
            error=f"no cached copy of {args['url']}",
            error_type=forced_error,
            latency_ms=latency,
            cost_usd=0.0,
        )
        return None

    def _recover(
        self, comp: Component, error: str, strategy: str, why: str, attrs: dict[str, str]
    ) -> str:
        return self.rec.emit(
            "recovery",
            self.system,
            strategy,
            parent=error,
            status="ok",
            reasoning=why,
            attributes={"strategy": strategy, "failed_component": comp[0], **attrs},
        )

    # -- agents ------------------------------------------------------------------------------

    def delegate(
        self,
        name: str,
        task: str,
        payload: dict,
        ok: dict,
        *,
        scale: float = 1.0,
        inner: Any = None,
    ) -> str:
        """Hand a sub-task to an agent; bad output and timeouts get one retry with tighter
        instructions, then the run fails. Returns the id of the agent's answer."""
        state = self.world.component(name)
        attempt = 1
        parent = None
        while True:
            comp = _comp(state)
            v = state.current
            delegation = self.rec.emit(
                "delegation",
                comp,
                f"delegate:{task}",
                parent=parent,
                input=payload,
                attributes={"from_agent": "SystemAgent", "to_agent": name, "attempt": str(attempt)},
            )
            if inner is not None and attempt == 1:
                inner(delegation)
            latency = self._latency(v) * scale
            self.rec.wait(latency)
            err = self._error(v, attempt)
            state.record(err)
            tokens = self._tokens(v, scale)
            if err is None:
                return self.rec.emit(
                    "agent_message",
                    comp,
                    "respond",
                    parent=delegation,
                    output=ok,
                    status="ok",
                    tokens=tokens,
                    latency_ms=round(latency, 1),
                    attributes={
                        "from_agent": name,
                        "to_agent": "SystemAgent",
                        "message_type": "response",
                    },
                )
            if err == "timeout":
                message = f"{name} did not answer within {latency / 1000:.0f}s ({task})"
                failed = delegation
            else:
                message = (
                    f"{name} {v.version} returned output that does not match the expected "
                    f"schema for {task}: missing 'key_points', free text instead of JSON"
                )
                failed = self.rec.emit(
                    "agent_message",
                    comp,
                    "respond",
                    parent=delegation,
                    output={"text": "Here is a summary of the documents you sent me..."},
                    status="error",
                    tokens=tokens,
                    latency_ms=round(latency, 1),
                    attributes={
                        "from_agent": name,
                        "to_agent": "SystemAgent",
                        "message_type": "response",
                    },
                )
            error = self.rec.emit(
                "error",
                comp,
                task,
                parent=failed,
                status="error",
                error=message,
                error_type=err,
                attributes={"attempt": str(attempt)},
            )
            if attempt >= 2:
                raise RunAborted(err, message, comp)
            self.problems.append((name, err, "retry"))
            why = (
                "answer did not follow the output schema; retry with the schema inlined and "
                "an example"
                if err == "bad_output"
                else "no answer in time; retry with the input split into smaller chunks"
            )
            parent = self._recover(comp, error, "retry", why, {"attempt": "2"})
            attempt += 1

    # -- run structure -----------------------------------------------------------------------

    def plan(self) -> list[PlanStep]:
        s, sl = self.scenario.name, self.slots
        topic = sl["topic"]
        steps: list[tuple[str, str, str, str]]  # role, component, action, reason
        if s == "web_research_summary":
            steps = [
                ("search", "SearchTool", "search", f"find current sources on {topic}"),
                ("fetch", "WebFetcherTool", "fetch", "read the most relevant source in full"),
                ("summarize", "SummarizationAgent", "summarize", "condense it into key points"),
                ("write", "FileWriterTool", "write", f"deliver the summary as {sl['file']}"),
            ]
        elif s == "data_analysis":
            steps = [
                ("read", "FileReaderTool", "read", f"load {sl['dataset']}"),
                ("analyse", "AnalysisAgent", "analyse", f"compute {sl['metric']} with evidence"),
                ("write", "FileWriterTool", "write", f"write the findings to {sl['file']}"),
            ]
        elif s == "content_creation":
            steps = [
                ("draft", "ContentWriterAgent", "draft", f"draft for {sl['audience']}"),
                ("check", "ReviewAgent", "review", "check the draft against the brief"),
                ("write", "FileWriterTool", "write", "publish the approved version"),
            ]
        elif s in ("market_research_technical", "literature_review_business"):
            what = "market reports" if s == "market_research_technical" else "recent papers"
            merge = (
                f"merge findings and judge the technical feasibility of {sl['tech']}"
                if s == "market_research_technical"
                else f"merge findings and derive implications for {sl['industry']}"
            )
            steps = [
                ("search", "SearchTool", "search", f"find {what} on the topic"),
                ("parallel_fetch", "WebFetcherTool", "fetch", "read several sources at once"),
                ("merge", "AnalysisAgent", "analyse", merge),
                ("summarize", "SummarizationAgent", "summarize", "condense into a brief"),
                ("write", "FileWriterTool", "write", f"deliver the brief as {sl['file']}"),
            ]
        elif s == "multilingual_brief":
            steps = [
                (
                    "parallel_fetch",
                    "WebFetcherTool",
                    "fetch",
                    f"read {sl['lang1']} and {sl['lang2']} sources in parallel",
                ),
                ("translate", "TranslationAgent", "translate", "translate each into English"),
                ("summarize", "SummarizationAgent", "summarize", "merge into one English brief"),
                ("write", "FileWriterTool", "write", f"deliver the brief as {sl['file']}"),
            ]
        else:  # novel: a capability that no existing component has
            need = self.need
            assert need is not None
            if need.kind == "tool":
                steps = [
                    ("search", "SearchTool", "search", "find the input material"),
                    ("novel", need.component, "run", need.purpose),
                    ("summarize", "SummarizationAgent", "summarize", "explain the result"),
                    ("write", "FileWriterTool", "write", f"deliver the report as {sl['file']}"),
                ]
            else:
                steps = [
                    ("search", "SearchTool", "search", "find the input material"),
                    ("fetch", "WebFetcherTool", "fetch", "read the primary source"),
                    ("novel", need.component, "run", need.purpose),
                    ("write", "FileWriterTool", "write", f"deliver the report as {sl['file']}"),
                ]
        return [PlanStep(i + 1, *step) for i, step in enumerate(steps)]

    def run(self) -> None:
        rec, sc = self.rec, self.scenario
        run_level = (self.goal, sc.name, sc.level)
        signature = goal_signature(self.goal)
        rec.emit(
            "run_started",
            self.system,
            "start_run",
            run_level=run_level,
            status="ok",
            input={"goal": self.goal},
            attributes={
                "goal_signature": signature,
                "sim.pattern": sc.pattern,
                "sim.domain": sc.domain,
            },
        )
        rec.wait(3 + 20 * self.rng.random())
        rec.emit(
            "goal_received",
            self.system,
            "receive_goal",
            run_level=run_level,
            status="ok",
            input={"goal": self.goal, "constraints": self.slots["constraints"]},
        )
        self._consult_memory(signature)
        steps = self.plan()
        self._evolve_components(steps)
        plan_id = self._create_plan(steps)
        self._select_components(steps, plan_id)
        outcome_error: RunAborted | None = None
        try:
            for step in steps:
                self._execute(step)
                self.steps_done += 1
                rec.wait(5 + 30 * self.rng.random())
                rec.emit(
                    "state_changed",
                    self.system,
                    "update_state",
                    status="ok",
                    state_change={
                        "current_step": step.number,
                        "step_status": "COMPLETED",
                        "completed_steps": self.steps_done,
                    },
                    attributes={"plan_step": str(step.number)},
                )
        except RunAborted as aborted:
            outcome_error = aborted
        self._finish(steps, outcome_error)

    def _consult_memory(self, signature: str) -> None:
        past = self.world.recall(self.scenario.name)
        tokens, latency = self._system_think(0.25)
        if past:
            ok = sum(1 for e in past if e.outcome != "failure")
            latest = past[-1]
            why = (
                f"Found {len(past)} past runs of this kind of goal, {ok} of them successful. "
                f"Most recent lesson ({latest.run_id}): {latest.learning}"
            )
        else:
            why = "No past experience with this kind of goal; planning from first principles."
        self.rec.emit(
            "memory_consulted",
            self.system,
            "consult_memory",
            status="ok",
            input={"query": signature, "scenario": self.scenario.name},
            output={
                "experiences": [
                    {"experience_id": e.run_id, "outcome": e.outcome, "learning": e.learning}
                    for e in past[-3:]
                ]
            },
            reasoning=why,
            tokens=tokens,
            latency_ms=latency,
        )

    def _evolve_components(self, steps: list[PlanStep]) -> None:
        for name in dict.fromkeys(s.component for s in steps):
            state = self.world.components.get(name)
            if state is None or not state.due_for_evolution:
                continue
            old, new, trigger = state.evolve()
            tokens, latency = self._system_think(1.5)
            self.rec.emit(
                "component_evolved",
                _comp(state),
                "evolve_component",
                status="ok",
                # the arguments of the evolve_component meta tool
                input={
                    "name": name,
                    "version": new.version,
                    **({"change_note": new.note} if new.note else {}),
                },
                output={
                    "name": name,
                    "version": new.version,
                    "registry_id": new.registry_id,
                    "change": new.note,
                    "spec": simulator_spec_document(name, state.spec.kind, state.spec.purpose, new),
                },
                reasoning=f"Memory shows repeated failures ({trigger}). Writing {name} "
                f"{new.version}: {new.note}. {old.version} is marked deprecated.",
                tokens=tokens,
                latency_ms=latency,
                attributes={
                    "old_version": old.version,
                    "new_version": new.version,
                    "replaces": f"{name}@{old.version}",
                    "replaces_registry_id": old.registry_id,
                    "registry_id": new.registry_id,
                    "old_status": "deprecated",
                    "trigger": trigger,
                },
            )

    def _create_plan(self, steps: list[PlanStep]) -> str:
        tokens, latency = self._system_think()
        lessons = [e.learning for e in self.world.recall(self.scenario.name)[-2:]]
        plan = [
            {
                "step": s.number,
                "action": s.action,
                "component": s.component,
                "reason": s.reason,
                "estimated_cost": round(0.002 + 0.03 * self.rng.random(), 3),
                "estimated_time": f"{1 + int(12 * self.rng.random())}s",
            }
            for s in steps
        ]
        chain = " -> ".join(f"{s.action} ({s.component})" for s in steps)
        why = f"Goal: {self.goal}. Decomposed into {len(steps)} steps: {chain}."
        if lessons:
            why += f" Taking into account: {lessons[-1]}"
        return self.rec.emit(
            "plan_created",
            self.system,
            "create_plan",
            status="ok",
            input={"goal": self.goal},
            output={"steps": plan},
            reasoning=why,
            tokens=tokens,
            latency_ms=latency,
        )

    def _select_components(self, steps: list[PlanStep], plan_id: str) -> None:
        for name in dict.fromkeys(s.component for s in steps):
            state = self.world.components.get(name)
            step = next(s for s in steps if s.component == name)
            self.rec.wait(2 + 10 * self.rng.random())
            if state is None:
                need = self.need
                assert need is not None
                state = self.world.create(need, self.rec.run_id)
                tokens, latency = self._system_think(2.0)
                v = state.current
                self.rec.emit(
                    "component_created",
                    _comp(state),
                    "create_component",
                    parent=plan_id,
                    status="ok",
                    output={
                        "name": name,
                        "kind": need.kind,
                        "version": v.version,
                        "purpose": need.purpose,
                        "registry_id": v.registry_id,
                        "path": f"components/{need.kind}s/{name}.md",
                        "spec": simulator_spec_document(name, need.kind, need.purpose, v),
                    },
                    reasoning=f"No registered component can {need.purpose}; writing {name} "
                    f"{v.version} as a new {need.kind}.",
                    tokens=tokens,
                    latency_ms=latency,
                    attributes={
                        "registry_id": v.registry_id,
                        "plan_step": str(step.number),
                        "status": "experimental",
                    },
                )
                continue
            v = state.current
            history = (
                f"{state.calls_on_version} calls on {v.version} so far, "
                f"{state.errors_on_version} failed"
                if state.calls_on_version
                else f"first use of {v.version}"
            )
            origin = f" (created in run {state.created_in_run})" if state.created_in_run else ""
            # A component written on demand in an earlier run is known only from the registry:
            # the selection carries its spec, as its creation did, so its calls can be checked.
            spec = (
                {"spec": simulator_spec_document(name, state.spec.kind, state.spec.purpose, v)}
                if state.created_in_run
                else None
            )
            self.rec.emit(
                "component_selected",
                _comp(state),
                "select_component",
                parent=plan_id,
                status="ok",
                output=spec,
                reasoning=f"{name}{origin} can {state.spec.purpose}; {history}.",
                attributes={
                    "registry_id": v.registry_id,
                    "plan_step": str(step.number),
                    **({"alias": state.spec.native_alias} if state.spec.native_alias else {}),
                },
            )

    # -- step execution ----------------------------------------------------------------------

    def _execute(self, step: PlanStep) -> None:
        getattr(self, f"_do_{step.role}")(step)

    def _hits(self, kind: str, n: int) -> list[str]:
        sites = _SITES[kind]
        slug = self.slots["slug"]
        return [
            f"https://{self.rng.choice(sites)}/{slug}-{self.rng.randrange(1000, 9999)}"
            for _ in range(n)
        ]

    def _do_search(self, step: PlanStep) -> None:
        kind = "papers" if self.scenario.name == "literature_review_business" else "news"
        if self.rng.random() < 0.4:
            kind = "reference"
        hits = self._hits(kind, 3 + self.rng.randrange(4))
        query = self.slots["topic"]
        self.tool(
            "SearchTool",
            "search",
            {"query": query, "site_kind": kind},
            {"query": query, "hits": hits, "count": len(hits)},
        )
        self.urls = hits

    def _fetch_ok(self, url: str, title: str, doc: str) -> dict:
        return {
            "url": url,
            "http_status": 200,
            "bytes": 8000 + self.rng.randrange(90000),
            "title": title,
            "doc": doc,
        }

    def _fetched(self, title: str) -> None:
        self.texts.append(title)
        self.docs.append(self._take_id("doc"))

    def _do_fetch(self, step: PlanStep) -> None:
        url = self.urls[0] if self.urls else self._hits("news", 1)[0]
        title = f"{self.slots['topic'].capitalize()}: what changed this quarter"
        ok = self._fetch_ok(url, title, self._next_id("doc"))
        if self.tool("WebFetcherTool", "fetch", {"url": url}, ok):
            self._fetched(title)

    def _do_parallel_fetch(self, step: PlanStep) -> None:
        """Fetch several sources concurrently: calls go out together, results come back in
        completion order, failures are handled once all results are in."""
        if self.scenario.name == "multilingual_brief":
            langs = (self.slots["lang1"], self.slots["lang2"])
            urls = self._hits("foreign", 2)
            titles = [FOREIGN_TITLES[lang] for lang in langs]
        else:
            urls = (self.urls or self._hits("news", 4))[: 2 + self.rng.randrange(3)]
            titles = [
                f"{self.slots['topic'].capitalize()} report {i + 1}" for i in range(len(urls))
            ]
        state = self.world.component("WebFetcherTool")
        comp, v = _comp(state), state.current
        start = self.rec.now
        calls = []
        for url in urls:
            calls.append(self.rec.emit("tool_call", comp, "fetch", input={"url": url}))
            self.rec.wait(1 + 3 * self.rng.random())
        finished = []
        for i, (url, call) in enumerate(zip(urls, calls, strict=True)):
            latency = self._latency(v)
            err = self._error(v)
            state.record(err)
            finished.append((start + int(latency * 1000), i, url, call, latency, err))
        finished.sort()
        failed = []
        for done_us, i, url, call, latency, err in finished:
            self.rec.at(done_us)
            if err is None:
                self.rec.emit(
                    "tool_result",
                    comp,
                    "fetch",
                    parent=call,
                    status="ok",
                    output=self._fetch_ok(url, titles[i], self._next_id("doc")),
                    latency_ms=latency,
                    cost_usd=0.0,
                )
                self._fetched(titles[i])
                continue
            message = self._error_message("WebFetcherTool", err, {"url": url}, latency)
            result = self.rec.emit(
                "tool_result",
                comp,
                "fetch",
                parent=call,
                status="error",
                error=message,
                error_type=err,
                output={"error": err},
                latency_ms=latency,
                cost_usd=0.0,
            )
            failed.append((i, url, result, err, message))
        for i, url, result, err, message in failed:
            self._recover_parallel_fetch(state, i, url, titles[i], result, err, message)
        if not self.texts:
            raise RunAborted("no_sources", "none of the sources could be fetched", comp)

    def _recover_parallel_fetch(
        self,
        state: ComponentState,
        i: int,
        url: str,
        title: str,
        result: str,
        err: str,
        message: str,
    ) -> None:
        comp = _comp(state)
        error = self.rec.emit(
            "error",
            comp,
            "fetch",
            parent=result,
            status="error",
            error=message,
            error_type=err,
            attributes={"attempt": "1"},
        )
        if err == "timeout":
            self.problems.append((comp[0], err, "retry"))
            recovery = self._recover(
                comp, error, "retry", "transient timeout; retry once", {"attempt": "2"}
            )
            if self.tool(
                "WebFetcherTool",
                "fetch",
                {"url": url},
                self._fetch_ok(url, title, self._next_id("doc")),
                parent=recovery,
                optional=True,
            ):
                self._fetched(title)
            return
        self.problems.append((comp[0], err, "fallback"))
        recovery = self._recover(
            comp,
            error,
            "fallback",
            "the site refuses automated fetches; use the search engine's cached copy",
            {"fallback_to": "SearchTool"},
        )
        cached = {"url": url, "cached": True, "bytes": 5000 + self.rng.randrange(40000)}
        cached["doc"] = self._next_id("doc")
        search = self.world.component("SearchTool")
        if self.rng.random() < CACHE_HIT_RATE:
            self._fallback_result(search, {"url": url}, cached, recovery, None)
            self._fetched(title)
            return
        self._fallback_result(search, {"url": url}, cached, recovery, "cache_miss")
        self.problems.append((comp[0], err, "skip"))
        self._recover(
            comp,
            error,
            "skip",
            "no cached copy either; continue with the other sources",
            {"skipped": url},
        )

    def _do_read(self, step: PlanStep) -> None:
        path = f"workspace/data/{self.slots['dataset']}"
        rows = 2000 + self.rng.randrange(200000)
        data = self._next_id("data")
        self.tool(
            "FileReaderTool",
            "read",
            {"path": path},
            {"path": path, "bytes": rows * 48, "rows": rows, "artifact": data},
        )
        self.docs = [self._take_id("data")]

    def _do_analyse(self, step: PlanStep) -> None:
        metric = self.slots["metric"]
        self.delegate(
            "AnalysisAgent",
            "analyse",
            {"inputs": self.docs, "question": f"find {metric}"},
            {
                "artifact": self._next_id("findings"),
                "findings": [
                    f"{metric}: {self.rng.choice(('up', 'down', 'flat'))} "
                    f"{self.rng.randrange(2, 40)}% over the period"
                ],
                "charts": 1 + self.rng.randrange(3),
                "confidence": round(self.rng.random(), 2),
            },
        )
        self._produced("findings")

    def _produced(self, prefix: str) -> str:
        """A processing step's output artifact: the next step's input and the deliverable."""
        self.final = self._take_id(prefix)
        self.docs = [self.final]
        return self.final

    def _do_merge(self, step: PlanStep) -> None:
        def benchmarks(delegation: str) -> None:
            query = f"{self.slots['tech']} benchmarks"
            self.tool(
                "SearchTool",
                "search",
                {"query": query, "site_kind": "reference"},
                {"query": query, "hits": self._hits("reference", 2), "count": 2},
                parent=delegation,
                optional=True,
            )

        sl = self.slots
        if self.scenario.name == "market_research_technical":
            inner, question = benchmarks, f"technical feasibility of {sl['tech']}"
        else:
            inner, question = None, f"business implications of {sl['topic']} for {sl['industry']}"
        self.delegate(
            "AnalysisAgent",
            "merge",
            {"inputs": self.docs, "question": question},
            {
                "artifact": self._next_id("findings"),
                "themes": 2 + self.rng.randrange(4),
                "sources_used": len(self.texts),
                "assessment": self.rng.choice(("feasible", "feasible with caveats", "premature")),
            },
            scale=1.0 + 0.2 * len(self.texts),
            inner=inner,
        )
        self._produced("findings")

    def _do_summarize(self, step: PlanStep) -> None:
        n = 3 + self.rng.randrange(5)
        self.delegate(
            "SummarizationAgent",
            "summarize",
            {"inputs": self.docs, "focus": self.slots["topic"]},
            {
                "artifact": self._next_id("summary"),
                "key_points": n,
                "words": 180 + self.rng.randrange(220),
                "citations": max(1, len(self.texts)),
            },
            scale=0.7 + 0.25 * len(self.texts),
        )
        self._produced("summary")

    def _do_translate(self, step: PlanStep) -> None:
        # Translations run side by side; each is its own delegation from the SystemAgent.
        translated = []
        for title, doc in zip(list(self.texts), list(self.docs), strict=True):
            self.delegate(
                "TranslationAgent",
                "translate",
                {"input": doc, "target_language": "English"},
                {
                    "artifact": self._next_id("translation"),
                    "translated": True,
                    "source_title": title,
                    "words": 300 + self.rng.randrange(900),
                },
            )
            translated.append(self._take_id("translation"))
        self.docs = translated

    def _do_draft(self, step: PlanStep) -> None:
        sl = self.slots
        self.delegate(
            "ContentWriterAgent",
            "draft",
            {"topic": sl["topic"], "audience": sl["audience"], "content_kind": sl["content_kind"]},
            {"artifact": self._next_id("draft"), "draft_words": 500 + self.rng.randrange(900)},
        )
        self._produced("draft")

    def _do_check(self, step: PlanStep) -> None:
        """Refine -> Check -> Finalize: review, revise on concrete issues, at most twice."""
        sl = self.slots
        brief = f"a {sl['content_kind']} about {sl['topic']} for {sl['audience']}"
        for round_no in range(1, 4):
            issues = 0 if round_no == 3 else max(0, self.rng.randrange(-2, 3))
            draft = self.final
            self.delegate(
                "ReviewAgent",
                "review",
                {"input": draft, "brief": brief},
                {"artifact": draft, "passed": issues == 0, "issues": issues},
                scale=0.8,
            )
            if issues == 0:
                return
            # the revision: a new draft from the reviewed one
            self.delegate(
                "ContentWriterAgent",
                "revise",
                {
                    "topic": sl["topic"],
                    "audience": sl["audience"],
                    "content_kind": sl["content_kind"],
                    "inputs": [draft],
                },
                {"artifact": self._next_id("draft"), "draft_words": 500 + self.rng.randrange(900)},
                scale=0.6,
            )
            self._produced("draft")

    def _do_write(self, step: PlanStep) -> None:
        path = f"workspace/{self.slots['file']}"
        self.tool(
            "FileWriterTool",
            "write",
            {"path": path, "source": self.final},
            {"path": path, "bytes_written": 1500 + self.rng.randrange(12000)},
        )

    def _do_novel(self, step: PlanStep) -> None:
        need = self.need
        assert need is not None
        target = self.slots["target"]
        # A tool's plan has no fetch: it works on the search hits themselves.
        inputs = self.docs if need.kind == "agent" else self.urls
        ok: dict[str, Any] = {"artifact": self._next_id("findings")}
        if need.kind == "tool":
            ok.update(items=3 + self.rng.randrange(30), target=target)
            self.tool(need.component, "run", {"inputs": inputs, "target": target}, ok)
        else:
            ok.update(items=3 + self.rng.randrange(12), target=target)
            self.delegate(need.component, "run", {"inputs": inputs, "target": target}, ok)
        self._produced("findings")

    # -- ending ------------------------------------------------------------------------------

    def _learning(self, aborted: RunAborted | None) -> tuple[str, str]:
        if aborted is not None:
            name = aborted.component[0]
            return "failure", (
                f"Run failed at {name} ({aborted.error_type}): {aborted.message}. "
                f"Plan a fallback for {name} before relying on it."
            )
        if not self.problems:
            return "success", (
                f"{self.scenario.name} plan worked first time in {self.steps_done} steps; "
                "reuse it for similar goals."
            )
        name, err, strategy = self.problems[0]
        lesson = {
            "http_403": f"{name} gets HTTP 403 from some sites; the search cache is a "
            "reliable fallback",
            "timeout": f"{name} times out under load; a retry with backoff usually succeeds",
            "bad_output": f"{name} drifts from the output schema; inline the schema and an "
            "example in the request",
            "permission_denied": "the output directory can be read-only; write to the "
            "fallback directory",
            "cache_miss": "cached copies are not always there; fetch more sources than needed",
        }.get(err, f"{name} failed with {err}; {strategy} worked")
        return "success_with_recovery", f"{lesson} ({strategy} used in this run)."

    def _finish(self, steps: list[PlanStep], aborted: RunAborted | None) -> None:
        rec, sc = self.rec, self.scenario
        outcome, learning = self._learning(aborted)
        tokens, latency = self._system_think(0.4)
        rec.emit(
            "learning_recorded",
            self.system,
            "record_learning",
            status="ok",
            output={
                "experience_id": rec.run_id,
                "outcome": outcome,
                "components_used": sorted({s.component for s in steps}),
            },
            reasoning=learning,
            tokens=tokens,
            latency_ms=latency,
            attributes={"outcome": outcome, "memory": "long_term"},
        )
        self.world.remember(sc.name, Experience(rec.run_id, outcome, learning))
        rec.wait(2 + 5 * self.rng.random())
        run_level = (self.goal, sc.name, sc.level)
        duration_ms = round((rec.now - self.started_us) / 1000, 1)
        totals = (rec.tokens_in, rec.tokens_out)
        summary = {
            "steps_planned": len(steps),
            "steps_completed": self.steps_done,
            "recoveries": len(self.problems),
            "total_tokens_in": totals[0],
            "total_tokens_out": totals[1],
            "total_cost_usd": round(rec.cost, 6),
        }
        if aborted is None:
            rec.emit(
                "run_completed",
                self.system,
                "complete_run",
                run_level=run_level,
                status="ok",
                output={**summary, "artifacts": [f"workspace/{self.slots['file']}"]},
                latency_ms=duration_ms,
                attributes={"outcome": outcome},
            )
        else:
            rec.emit(
                "run_failed",
                self.system,
                "fail_run",
                run_level=run_level,
                status="error",
                error=aborted.message,
                error_type=aborted.error_type,
                output=summary,
                latency_ms=duration_ms,
                attributes={"outcome": outcome, "failed_component": aborted.component[0]},
            )


def _slots(rng: random.Random, scenario: Scenario) -> dict[str, Any]:
    topic = rng.choice(TOPICS)
    lang1, lang2 = rng.choice(LANGUAGE_PAIRS)
    slots: dict[str, Any] = {
        "topic": topic,
        "slug": _slug(topic),
        "dataset": rng.choice(DATASETS),
        "metric": rng.choice(METRICS),
        "content_kind": rng.choice(CONTENT_KINDS),
        "audience": rng.choice(AUDIENCES),
        "market": rng.choice(MARKETS),
        "tech": rng.choice(TECHS),
        "industry": rng.choice(INDUSTRIES),
        "lang1": lang1,
        "lang2": lang2,
        "constraints": {
            "max_cost_per_task": rng.choice((0.5, 1.0, 2.0)),
            "priority": rng.choice(("normal", "normal", "high")),
            "error_tolerance": rng.choice(("low", "medium")),
        },
    }
    if scenario.needs:
        need = rng.choice(scenario.needs)
        slots["need"] = need
        slots["target"] = rng.choice(need.targets)
        template = need.goal
    else:
        template = rng.choice(scenario.goals)
    slots["file"] = f"output/{slots['slug']}_{scenario.name}.md"
    slots["goal"] = template.format(**slots)
    return slots


def simulate_run(
    world: World, rng: random.Random, seed: int, index: int, fmt: IsoFormatter
) -> list[Event]:
    """Generate run number `index` (0-based) of the simulation with this seed."""
    run_id = f"sim{SIMULATOR_VERSION}-{seed}-{index:07d}"
    scenario = SCENARIOS[bisect.bisect_right(_CUM_WEIGHTS, rng.random() * _CUM_WEIGHTS[-1])]
    slots = _slots(rng, scenario)
    start = run_start_us(index, rng.random())
    rec = RunRecorder(run_id, start, fmt)
    sim = RunSimulation(world, rng, rec, scenario, slots)
    sim.run()
    return rec.events


def generate_runs(seed: int, runs: int | None) -> Iterator[list[Event]]:
    """Yield `runs` simulated runs (None: without end), each a list of event dicts in seq order.

    Deterministic: one `random.Random(seed)` stream drives everything, ids come from the
    seed, the run index and the position, and time is simulated."""
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    rng = random.Random(seed)
    world = World()
    fmt = IsoFormatter()
    index = 0
    while runs is None or index < runs:
        yield simulate_run(world, rng, seed, index, fmt)
        index += 1
