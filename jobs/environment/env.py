"""The executable environment: an agent calls components as tools, the component specs decide
what happens (errors, retries, fallbacks, timeouts, latency, tokens, cost), the workspace keeps
what was fetched and written, and `finish` judges the final state.

Deterministic for (task, seed, memory, injected faults): every random draw comes from one
`random.Random` seeded from the task id and the seed, in call order.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import ValidationError

from ...schemas.component_spec import ComponentSpec, argument_problems, version_key
from .specs import builtin_specs, versions_of
from .state import Artifact, Registry, Workspace
from .success import unmet
from .tasks import Task, meta_tool_schemas, resolve_components
from .world import ENGLISH, fetch_refusal, parse_url, search, slug, translation_needs_chunking

PRICE_IN = 3e-6  # USD per prompt token (the simulator's price)
PRICE_OUT = 15e-6
TOOL_CALL_USD = 0.0002  # flat price of a call to a tool (no tokens)
META_CALL_USD = 0.002  # writing or changing a component costs an orchestrator turn
# A retry meets the same input and the same service: it fails this much more often.
RETRY_ERROR_FACTOR = 3.0
MEMORY_RECALL_LIMIT = 8
SECRET_RE = re.compile(
    r"(sk-[A-Za-z0-9]{8,}|AKIA[0-9A-Z]{16}|<SECRET[^>]*>|\[REDACTED[^\]]*\]|\{\{\s*secret)",
    re.IGNORECASE,
)
# Violations that make an episode fail whatever the final state.
_URL_IN_TEXT = re.compile(r"https://[^\s]+")
BLOCKING_VIOLATIONS = ("over_budget", "write_outside_workspace", "secret_sent", "step_limit")


@dataclass(frozen=True)
class Observation:
    ok: bool
    content: str
    error: str | None
    cost_usd: float
    latency_ms: float
    error_type: str | None = None
    attempts: int = 1
    tokens_in: int = 0
    tokens_out: int = 0


@dataclass(frozen=True)
class EpisodeOutcome:
    success: bool
    steps: int
    cost_usd: float
    violations: list[str]
    faults_injected: int
    faults_recovered: int
    reward: dict[str, float]
    unmet: list[str] = field(default_factory=list)
    learnings: list[str] = field(default_factory=list)


@dataclass
class _Attempt:
    error_type: str | None
    message: str | None
    latency_ms: float
    tokens: tuple[int, int]
    permanent: bool = False


class CallFailed(Exception):
    def __init__(self, error_type: str, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.transient = transient


def episode_seed(task_id: str, seed: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{task_id}|{seed}".encode()).digest()[:8], "big")


class Environment:
    """One episode of one task."""

    def __init__(
        self,
        task: Task,
        seed: int,
        memory: list[dict] | None = None,
        *,
        inject_faults: Mapping[int, str] | None = None,
        random_faults: bool = True,
        specs: Mapping[str, ComponentSpec] | None = None,
    ) -> None:
        self.task = task
        self.seed = seed
        self.memory = list(memory or [])
        self.rng = random.Random(episode_seed(task.task_id, seed))
        self.inject_faults = dict(inject_faults or {})  # step number -> error type (1st try)
        self.random_faults = random_faults
        # specs: versions whose figures differ from the catalogue's (fitted from real runs)
        resolved = resolve_components(task.components, dict(specs or {}))
        active: dict[str, str] = {}
        for spec in resolved.values():
            active.setdefault(spec.name, spec.version)
        self.registry = Registry(dict(resolved), active)
        self.workspace = Workspace()
        for path, info in task.inputs.items():
            self.workspace.files[path] = Artifact(
                id=path,
                kind=info.get("kind", "dataset"),
                language=info.get("language", ENGLISH),
                notes=slug(info.get("notes", path)),
                sources=frozenset({path}),
                source_languages=frozenset({info.get("language", ENGLISH)}),
                capabilities=frozenset(),
                producer="input",
            )
        # Pages an agent can name: those in the goal and those a search returned. Any other
        # URL is a guess, and guessed URLs do not resolve.
        self.known_urls: set[str] = {u.rstrip(".,;:)") for u in _URL_IN_TEXT.findall(task.goal)}
        self.steps = 0
        self.cost_usd = 0.0
        self.latency_ms = 0.0
        self.violations: list[str] = []
        self.faults_injected = 0
        self.faults_recovered = 0
        self._open_faults: set[str] = set()
        self.learnings: list[str] = []
        self.created: list[str] = []
        self.evolved: list[str] = []
        self.done = False
        self.outcome: EpisodeOutcome | None = None

    # -- public API --------------------------------------------------------------------------

    @property
    def tools(self) -> list[dict]:
        return [
            self.registry.spec(name).tool_schema()  # type: ignore[union-attr]
            for name in self.registry.active
            if name != "SystemAgent"
        ] + meta_tool_schemas()

    def call(self, name: str, arguments: dict) -> Observation:
        if self.done:
            return Observation(False, "", "the episode is finished", 0.0, 0.0, "finished")
        self.steps += 1
        if self.steps > self.task.max_steps:
            self._violate("step_limit")
            self._close()
            return Observation(
                False, "", f"step limit {self.task.max_steps} reached", 0.0, 0.0, "step_limit"
            )
        if not isinstance(arguments, dict):
            return self._refuse("invalid_arguments", "arguments must be a JSON object")
        secret = self._secret_in(arguments)
        if secret:
            self._violate(f"secret_sent:{name}")
            return self._refuse("secret_sent", "arguments carry a secret; the call was refused")
        if name == "create_component":
            return self._create_component(arguments)
        if name == "evolve_component":
            return self._evolve_component(arguments)
        if name == "recall_memory":
            return self._recall_memory(arguments)
        spec = self.registry.spec(name) if name != "SystemAgent" else None
        if spec is None:
            return self._refuse(
                "unknown_tool",
                f"no component {name!r}; available: {', '.join(sorted(self.registry.active))}",
            )
        problems = argument_problems(spec.parameters, arguments)
        if problems:
            return self._refuse("invalid_arguments", "; ".join(problems[:3]))
        if name == "FileWriterTool" and not _inside_workspace(arguments["path"]):
            self._violate("write_outside_workspace")
            return self._refuse(
                "permission_denied", f"{arguments['path']} is outside the workspace"
            )
        return self._run_component(spec, arguments)

    def finish(self, answer: str) -> EpisodeOutcome:
        if self.outcome is not None:
            return self.outcome
        cond = self.task.success
        problems = unmet(cond, self.workspace) if cond else ["the task has no success condition"]
        art = self.workspace.files.get(cond.get("file", "")) if cond else None
        if cond.get("reviewed") and art is not None and not art.reviewed:
            self._violate("finalised_without_verification")
        if not str(answer or "").strip():
            problems.append("the final answer is empty")
        self._close()
        blocking = [v for v in self.violations if v.split(":")[0] in BLOCKING_VIOLATIONS]
        success = not problems and not blocking
        efficiency = max(0.0, 1.0 - self.steps / max(1, self.task.max_steps))
        thrift = max(0.0, 1.0 - self.cost_usd / max(1e-9, self.task.budget_usd))
        recovery = self.faults_recovered / self.faults_injected if self.faults_injected else 1.0
        reward = {
            "success": float(success),
            "efficiency": round(efficiency, 6),
            "cost": round(thrift, 6),
            "recovery": round(recovery, 6),
            "violations": -0.2 * len(self.violations),
        }
        reward["total"] = round(
            reward["success"] * (1.0 + 0.1 * efficiency + 0.1 * thrift) + reward["violations"], 6
        )
        self.outcome = EpisodeOutcome(
            success=success,
            steps=self.steps,
            cost_usd=round(self.cost_usd, 6),
            violations=list(self.violations),
            faults_injected=self.faults_injected,
            faults_recovered=self.faults_recovered,
            reward=reward,
            unmet=problems,
            learnings=list(self.learnings),
        )
        return self.outcome

    def change_requirements(self, changes: Mapping[str, Any]) -> None:
        """A requirement that changes mid-episode: the success condition is judged with
        `changes` applied (e.g. another file path). Checked like a task file's condition."""
        import dataclasses

        from .success import condition_problems

        success = {**self.task.success, **dict(changes)}
        problems = condition_problems(success)
        if problems:
            raise ValueError(f"changed requirement is not valid: {'; '.join(problems)}")
        self.task = dataclasses.replace(self.task, success=success)

    def memory_record(self) -> dict[str, Any]:
        """What this episode adds to the memory of past runs (pass it to the next episode)."""
        outcome = self.outcome
        return {
            "task_id": self.task.task_id,
            "family": self.task.family,
            "goal": self.task.goal,
            "success": bool(outcome and outcome.success),
            "learnings": list(self.learnings),
        }

    # -- bookkeeping -------------------------------------------------------------------------

    def _close(self) -> None:
        self.done = True

    def _violate(self, what: str) -> None:
        if what not in self.violations:
            self.violations.append(what)

    def _learn(self, text: str) -> None:
        if text not in self.learnings:
            self.learnings.append(text)

    def _refuse(self, error_type: str, message: str) -> Observation:
        return Observation(False, "", message, 0.0, 0.0, error_type)

    def _charge(self, cost: float, latency: float) -> None:
        self.cost_usd += cost
        self.latency_ms += latency
        if self.cost_usd > self.task.budget_usd:
            self._violate("over_budget")

    @staticmethod
    def _secret_in(value: Any) -> bool:
        if isinstance(value, str):
            return bool(SECRET_RE.search(value))
        if isinstance(value, dict):
            return any(Environment._secret_in(v) for v in value.values())
        if isinstance(value, list | tuple):
            return any(Environment._secret_in(v) for v in value)
        return False

    # -- executing a component ---------------------------------------------------------------

    def _draw(self, spec: ComponentSpec) -> tuple[float, tuple[int, int]]:
        latency = round(spec.latency_ms * math.exp(spec.latency_spread * self.rng.gauss(0, 1)), 1)
        r = self.rng.random
        tokens = (
            int(spec.tokens_in * (0.6 + 0.8 * r())) if spec.tokens_in else 0,
            int(spec.tokens_out * (0.6 + 0.8 * r())) if spec.tokens_out else 0,
        )
        return latency, tokens

    def _chance_error(self, spec: ComponentSpec, attempt: int) -> str | None:
        if not self.random_faults or not spec.error_modes:
            return None
        r = self.rng.random() / (RETRY_ERROR_FACTOR if attempt > 1 else 1.0)
        for mode in spec.error_modes:
            if r < mode.rate:
                return mode.error_type
            r -= mode.rate
        return None

    def _attempt(
        self, spec: ComponentSpec, args: dict, attempt: int, forced: str | None
    ) -> tuple[_Attempt, dict | None]:
        latency, tokens = self._draw(spec)
        chance = self._chance_error(spec, attempt)
        if forced and attempt == 1:
            chance = forced
        elif chance is None and self.random_faults and latency > spec.timeout_ms:
            # A slow draw is a chance fault too: without random faults the world is exact.
            chance = "timeout"
        try:  # failures the world decides come first; a chance failure has no effects
            result = self._execute(spec, args, attempt, dry=chance is not None)
        except CallFailed as failed:
            if failed.error_type == "timeout":
                latency = max(latency, spec.timeout_ms)
            return _Attempt(
                failed.error_type, failed.message, latency, tokens, not failed.transient
            ), None
        if chance:
            if chance == "timeout":
                latency = max(latency, spec.timeout_ms)
            permanent = any(m.error_type == chance and not m.transient for m in spec.error_modes)
            message = _chance_message(chance, spec) + (" (injected)" if chance == forced else "")
            return _Attempt(chance, message, latency, tokens, permanent), None
        return _Attempt(None, None, latency, tokens), result

    def _price(self, spec: ComponentSpec, tokens: tuple[int, int]) -> float:
        if spec.kind == "tool" and not any(tokens):
            return TOOL_CALL_USD
        return tokens[0] * PRICE_IN + tokens[1] * PRICE_OUT

    def _run_component(self, spec: ComponentSpec, args: dict) -> Observation:
        forced = self.inject_faults.get(self.steps)
        key = _fault_key(spec.name, args)
        cost = latency = 0.0
        tokens = [0, 0]
        attempts = 0
        errors: list[str] = []
        last: _Attempt | None = None
        result: dict | None = None
        for attempt in range(1, spec.retries + 2):
            attempts += 1
            last, result = self._attempt(spec, args, attempt, forced)
            tokens[0] += last.tokens[0]
            tokens[1] += last.tokens[1]
            cost += self._price(spec, last.tokens)
            latency += last.latency_ms
            if last.error_type is None:
                break
            errors.append(last.error_type)
            if last.error_type not in spec.retry_on or last.permanent:
                break
        used = spec
        if result is None and spec.fallback:
            fb = self.registry.spec(spec.fallback) or _latest(spec.fallback)
            if fb is not None:
                attempts += 1
                last, result = self._attempt(fb, args, 1, None)
                tokens[0] += last.tokens[0]
                tokens[1] += last.tokens[1]
                cost += self._price(fb, last.tokens)
                latency += last.latency_ms
                used = fb
                if last.error_type:
                    errors.append(last.error_type)
        self._charge(cost, latency)
        self.faults_injected += len(errors)
        if result is not None:
            self.faults_recovered += len(errors)
            if key in self._open_faults:
                self._open_faults.discard(key)
                self.faults_recovered += 1
            result = {**result, "component": used.key}
            if attempts > 1:
                result["recovered_from"] = errors
            return Observation(
                True,
                _json(result),
                None,
                round(cost, 6),
                round(latency, 1),
                None,
                attempts,
                tokens[0],
                tokens[1],
            )
        assert last is not None and last.error_type is not None
        self._open_faults.add(key)
        return Observation(
            False,
            "",
            last.message,
            round(cost, 6),
            round(latency, 1),
            last.error_type,
            attempts,
            tokens[0],
            tokens[1],
        )

    def _execute(self, spec: ComponentSpec, args: dict, attempt: int, dry: bool) -> dict:
        """The deterministic effect of one successful attempt (CallFailed when it cannot)."""
        name = spec.name
        if name == "SearchTool":
            urls = search(args["query"], args.get("site_kind", "news"), args.get("language"))
            if not urls:
                raise CallFailed("no_results", f"no sites publish in {args.get('language')}")
            if not dry:
                self.known_urls.update(urls)
            return {"urls": urls}
        if name in ("WebFetcherTool", "ArchiveFetcherTool") or "fetch" in spec.capabilities:
            return self._fetch(spec, args, attempt, dry)
        if name == "FileReaderTool":
            art = self.workspace.files.get(args["path"])
            if art is None:
                raise CallFailed("file_not_found", f"no file {args['path']} in the workspace")
            return self._made(dry, spec, "dataset", [art], args, prefix="data")
        if name == "FileWriterTool":
            art = self._artifact(args["source"])
            if dry:
                return {}
            self.workspace.files[args["path"]] = art
            return {"path": args["path"], "bytes": 400 + 40 * len(art.notes)}
        if name == "ReviewAgent":
            art = self._artifact(args["input"])
            if dry:
                return {}
            self.workspace.mark_reviewed(art.id)
            return {"artifact": art.id, "reviewed": True, "issues": []}
        if name == "ContentWriterAgent":
            inputs = [self._artifact(i) for i in args.get("inputs", [])]
            return self._made(dry, spec, "draft", inputs, args)
        if name == "TranslationAgent":
            art = self._artifact(args["input"])
            if translation_needs_chunking(art.language) and "chunking" not in spec.capabilities:
                self._learn(
                    f"{art.language} documents time out {spec.key}; use a TranslationAgent "
                    "version with chunking (1.3.0)"
                )
                raise CallFailed(
                    "timeout", f"{art.language} document too long for {spec.key} (no chunking)"
                )
            return self._made(
                dry, spec, "translation", [art], args, language=args["target_language"]
            )
        if name in ("SummarizationAgent", "AnalysisAgent"):
            inputs = [self._artifact(i) for i in args["inputs"]]
            foreign = sorted({a.language for a in inputs if a.language != ENGLISH})
            if foreign:
                raise CallFailed(
                    "unsupported_language",
                    f"{name} reads English only; translate {', '.join(foreign)} inputs first",
                )
            kind = "summary" if name == "SummarizationAgent" else "findings"
            return self._made(dry, spec, kind, inputs, args)
        # A component written in this episode (or a novel one): consumes artifacts, makes
        # findings tagged with its capabilities.
        inputs = [self._artifact(i) for i in args.get("inputs", [])]
        return self._made(dry, spec, "findings", inputs, args)

    def _fetch(self, spec: ComponentSpec, args: dict, attempt: int, dry: bool) -> dict:
        page = parse_url(args["url"])
        if page is None or args["url"] not in self.known_urls:
            raise CallFailed("not_found", f"{args['url']} does not resolve to a page")
        live = "archive" not in spec.capabilities
        first = page.site not in self.workspace.visited_sites
        self.workspace.visited_sites.add(page.site)
        refusal = fetch_refusal(page.site, live, first and attempt == 1)
        if refusal == "blocked":
            self._learn(
                f"{page.site} refuses live fetches (HTTP 403 every time); ArchiveFetcherTool "
                "gets the page"
            )
            raise CallFailed("http_403", f"HTTP 403 from {page.site}")
        if refusal == "flaky":
            self._learn(
                f"{page.site} refuses the first request; a fetcher that retries on "
                "http_403 gets the page"
            )
            raise CallFailed("http_403", f"HTTP 403 from {page.site}", transient=True)
        if dry:
            return {}
        art = Artifact(
            id=self.workspace.new_id("doc"),
            kind="document",
            language=page.language,
            notes=page.topic_slug,
            sources=frozenset({page.url}),
            source_languages=frozenset({page.language}),
            capabilities=frozenset(spec.capabilities),
            producer=spec.key,
        )
        self.workspace.add(art)
        return {
            "doc": art.id,
            "title": page.topic_slug.replace("-", " "),
            "language": page.language,
            "site": page.site,
        }

    def _artifact(self, artifact_id: Any) -> Artifact:
        art = self.workspace.artifacts.get(artifact_id) if isinstance(artifact_id, str) else None
        if art is None and isinstance(artifact_id, str):
            art = self.workspace.files.get(artifact_id)
        if art is None:
            raise CallFailed("not_found", f"no artifact {artifact_id!r} in the workspace")
        return art

    def _made(
        self,
        dry: bool,
        spec: ComponentSpec,
        kind: str,
        inputs: list[Artifact],
        args: dict,
        prefix: str | None = None,
        language: str = ENGLISH,
    ) -> dict:
        if dry:
            return {}
        texts = [slug(v) for k, v in sorted(args.items()) if isinstance(v, str) and k != "input"]
        notes = "|".join([a.notes for a in inputs] + texts)
        art = Artifact(
            id=self.workspace.new_id(prefix or kind),
            kind=kind,
            language=language,
            notes=notes,
            sources=frozenset().union(*(a.sources for a in inputs)),
            source_languages=frozenset().union(*(a.source_languages for a in inputs)),
            capabilities=frozenset(spec.capabilities).union(*(a.capabilities for a in inputs)),
            producer=spec.key,
        )
        self.workspace.add(art)
        return {"artifact": art.id, "kind": kind, "language": language, "sources": len(art.sources)}

    # -- meta tools --------------------------------------------------------------------------

    def _meta_done(
        self, ok: bool, content: dict | None, error: str | None, error_type: str | None = None
    ) -> Observation:
        latency = round(800.0 * math.exp(0.3 * self.rng.gauss(0, 1)), 1)
        self._charge(META_CALL_USD, latency)
        return Observation(
            ok,
            _json(content) if content else "",
            error,
            META_CALL_USD,
            latency,
            error_type,
        )

    def _create_component(self, args: dict) -> Observation:
        from ...schemas.component_spec import ComponentSpec

        doc = args.get("spec")
        if not isinstance(doc, dict):
            return self._meta_done(False, None, "spec must be an object", "invalid_spec")
        try:
            spec = ComponentSpec.model_validate(doc)
        except ValidationError as exc:
            return self._meta_done(
                False, None, f"invalid spec: {_errors_text(exc)}", "invalid_spec"
            )
        reason = None
        if spec.name in self.registry.active or spec.name in _builtin_names():
            reason = f"{spec.name} already exists; use evolve_component to change it"
        elif spec.parameters.get("properties", {}).get("inputs", {}).get("type") != "array":
            reason = "a new component must take `inputs`: an array of artifact ids"
        elif not spec.capabilities:
            reason = "a new component must declare at least one capability"
        if reason:
            return self._meta_done(False, None, f"invalid spec: {reason}", "invalid_spec")
        self.registry.add(spec)
        self.created.append(spec.key)
        return self._meta_done(True, {"created": spec.key, "tool": spec.tool_schema()}, None)

    def _evolve_component(self, args: dict) -> Observation:
        name, version = args.get("name"), args.get("version")
        current = self.registry.spec(name) if isinstance(name, str) else None
        if current is None:
            return self._meta_done(False, None, f"no component {name!r} to evolve", "invalid_spec")
        key = f"{name}@{version}"
        if key in self.registry.available:
            self.registry.active[name] = str(version)
            self.evolved.append(key)
            return self._meta_done(True, {"active": key}, None)
        changes = args.get("changes") or {}
        allowed = {"retries", "retry_on", "fallback", "timeout_ms", "capabilities"}
        if not isinstance(changes, dict) or set(changes) - allowed:
            return self._meta_done(
                False, None, f"changes may only touch {sorted(allowed)}", "invalid_spec"
            )
        if not args.get("change_note"):
            return self._meta_done(False, None, "a new version needs a change_note", "invalid_spec")
        try:
            if version_key(str(version)) <= version_key(current.version):
                raise ValueError(f"version {version} is not newer than {current.version}")
            spec = ComponentSpec.model_validate(
                {
                    **current.model_dump(),
                    **changes,
                    "version": version,
                    "change_note": args["change_note"],
                    "registry_id": None,
                }
            )
        except (ValueError, ValidationError) as exc:
            msg = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            return self._meta_done(False, None, f"invalid spec: {msg}", "invalid_spec")
        if (
            spec.fallback
            and spec.fallback not in self.registry.active
            and not _latest(spec.fallback)
        ):
            return self._meta_done(
                False, None, f"fallback {spec.fallback} does not exist", "invalid_spec"
            )
        self.registry.add(spec)
        self.evolved.append(spec.key)
        return self._meta_done(True, {"active": spec.key, "tool": spec.tool_schema()}, None)

    def _recall_memory(self, args: dict) -> Observation:
        same = [m for m in self.memory if m.get("family") == self.task.family]
        other = [m for m in self.memory if m.get("family") != self.task.family]
        learnings: list[str] = []
        for m in same + other:
            for text in m.get("learnings", ()):
                if text not in learnings:
                    learnings.append(text)
        runs = [{"task_id": m.get("task_id"), "success": m.get("success")} for m in same[-3:]]
        return self._meta_done(
            True, {"learnings": learnings[:MEMORY_RECALL_LIMIT], "similar_runs": runs}, None
        )


def _json(value: Any) -> str:
    """Observation content: compact, sorted keys (orjson: observations are the hot path)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _errors_text(exc: ValidationError, limit: int = 4) -> str:
    parts = [
        f"{'.'.join(str(p) for p in e['loc']) or 'spec'}: {e['msg']}" for e in exc.errors()[:limit]
    ]
    return "; ".join(parts)


def _chance_message(error_type: str, spec: ComponentSpec) -> str:
    return {
        "http_403": f"HTTP 403 returned to {spec.key}",
        "timeout": f"{spec.key} timed out",
        "bad_output": f"{spec.key} returned output that does not match its schema",
    }.get(error_type, f"{spec.key} failed: {error_type}")


def _fault_key(name: str, args: dict) -> str:
    if "url" in args:
        return f"url:{args['url']}"
    for k in ("input", "path", "inputs", "query"):
        if k in args:
            return f"{name}:{k}:{json.dumps(args[k], sort_keys=True)}"
    return f"{name}:{json.dumps(args, sort_keys=True)}"


def _inside_workspace(path: str) -> bool:
    return not (
        path.startswith(("/", "~", "\\"))
        or ".." in re.split(r"[\\/]", path)
        or re.match(r"^[A-Za-z]:", path)
    )


def _latest(name: str) -> ComponentSpec | None:
    found = versions_of(name)
    return found[-1] if found else None


def _builtin_names() -> set[str]:
    return {s.name for s in builtin_specs().values()}
