"""The episode loop: a policy acts in an executable environment through the tool-call wire format.

Shared by GRPO (training) and the evaluation benchmark (`tracelake.jobs.evaluation`): the policy
sees the conversation so far (our chat template), writes one assistant turn; its <tool_call>
blocks are executed and returned as tool turns; a turn without a call is the final answer. A turn
that does not parse ends the episode with the parse error recorded (the environment scores the
empty answer).

An episode ends at a final answer, an unparseable turn, the environment's step limit (the
environment closes itself), the task's budget (spent cost above `task.budget_usd`) or
`max_turns`; `Episode.ended_by` says which. An `interrupt` hook may add a user turn after any
turn (a requirement that changes mid-episode). `EpisodeRun` is the loop as a stepper, so that a
batched policy (one generation for many episodes) drives the same code as `run_episode`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tracelake.schemas.tool_calls import ToolCallParseError, parse_tool_calls

from .environment import EnvironmentLike, EpisodeOutcomeLike

# (messages so far, tools) -> the assistant's next turn as text (wire format for tool calls)
Policy = Callable[[list[dict[str, Any]], list[dict[str, Any]]], str]
# (prompts of several episodes) -> their next turns, in order (one batched generation)
BatchPolicy = Callable[[list[tuple[list[dict[str, Any]], list[dict[str, Any]]]]], list[str]]
# (turns so far, environment) -> a user message to add now (a changed requirement), or None
Interrupt = Callable[[int, EnvironmentLike], str | None]

DEFAULT_SYSTEM = "You are an agent. Use the tools, then answer."


@dataclass
class Episode:
    task_id: str
    messages: list[dict[str, Any]]
    outcome: EpisodeOutcomeLike
    turns: int
    parse_errors: list[str] = field(default_factory=list)
    # every executed call: name, arguments, ok, error_type, error, cost_usd, turn
    calls: list[dict[str, Any]] = field(default_factory=list)
    ended_by: str = "answer"  # answer | parse_error | step_limit | budget | max_turns | env_done
    interruptions: list[str] = field(default_factory=list)


def initial_messages(task: Any, system: str | None = None) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": system or DEFAULT_SYSTEM},
        {"role": "user", "content": task.goal},
    ]


class EpisodeRun:
    """One episode as a stepper: `prompt()`, then `feed(text)` until `done`, then `result()`."""

    def __init__(
        self,
        env: EnvironmentLike,
        task: Any,
        max_turns: int,
        *,
        system: str | None = None,
        interrupt: Interrupt | None = None,
    ) -> None:
        self.env, self.task, self.max_turns = env, task, max_turns
        self.interrupt = interrupt
        self.messages = initial_messages(task, system)
        self.errors: list[str] = []
        self.calls: list[dict[str, Any]] = []
        self.interruptions: list[str] = []
        self.turns = 0
        self.done = max_turns <= 0
        self.ended_by = "max_turns" if self.done else ""
        self.answer = ""

    def prompt(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return self.messages, self.env.tools

    def _end(self, why: str, answer: str = "") -> None:
        self.done, self.ended_by, self.answer = True, why, answer

    def feed(self, text: str) -> None:
        """Apply one assistant turn: parse, execute its calls, maybe end or interrupt."""
        if self.done:
            raise RuntimeError("the episode is over")
        self.turns += 1
        try:
            prose, calls = parse_tool_calls(text)
        except ToolCallParseError as exc:
            self.errors.append(str(exc))
            self.messages.append({"role": "assistant", "content": text})
            return self._end("parse_error")
        self.messages.append(
            {"role": "assistant", "content": prose, "tool_calls": [c.to_openai() for c in calls]}
        )
        if not calls:
            return self._end("answer", prose)
        budget = float(getattr(self.task, "budget_usd", float("inf")) or float("inf"))
        for call in calls:
            obs = self.env.call(call.name, call.arguments)
            self.calls.append(
                {
                    "turn": self.turns,
                    "name": call.name,
                    "arguments": call.arguments,
                    "ok": bool(obs.ok),
                    "error_type": getattr(obs, "error_type", None),
                    "error": obs.error,
                    "cost_usd": float(obs.cost_usd or 0.0),
                    "content": obs.content,
                }
            )
            content = obs.content if obs.ok else f"error: {obs.error}"
            self.messages.append({"role": "tool", "name": call.name, "content": content})
            if self.env.done:
                return self._end("step_limit" if _hit_step_limit(self.env) else "env_done")
            if float(getattr(self.env, "cost_usd", 0.0) or 0.0) > budget:
                return self._end("budget")
        if self.turns >= self.max_turns:
            return self._end("max_turns")
        if self.interrupt is not None:
            note = self.interrupt(self.turns, self.env)
            if note:
                self.interruptions.append(note)
                self.messages.append({"role": "user", "content": note})
        return None

    def result(self) -> Episode:
        if not self.done:
            raise RuntimeError("the episode is not over")
        return Episode(
            self.task.task_id,
            self.messages,
            self.env.finish(self.answer),
            self.turns,
            self.errors,
            self.calls,
            self.ended_by,
            self.interruptions,
        )


def _hit_step_limit(env: Any) -> bool:
    return any(str(v).startswith("step_limit") for v in getattr(env, "violations", ()) or ())


def run_episode(
    policy: Policy,
    env: EnvironmentLike,
    task: Any,
    max_turns: int,
    *,
    system: str | None = None,
    interrupt: Interrupt | None = None,
) -> Episode:
    run = EpisodeRun(env, task, max_turns, system=system, interrupt=interrupt)
    while not run.done:
        run.feed(policy(*run.prompt()))
    return run.result()


def run_episodes_batched(batch_policy: BatchPolicy, runs: list[EpisodeRun]) -> list[Episode]:
    """Drive several episodes in lockstep: one `batch_policy` call per turn for all open ones."""
    while True:
        open_runs = [r for r in runs if not r.done]
        if not open_runs:
            return [r.result() for r in runs]
        texts = batch_policy([r.prompt() for r in open_runs])
        for run, text in zip(open_runs, texts, strict=True):
            run.feed(text)


def expert_policy(task: Any) -> Policy:
    """Replays the task's expert plan, then answers: a reference policy for tests and baselines."""
    from tracelake.schemas.tool_calls import ToolCall, format_tool_call

    plan = list(task.expert_plan)

    def act(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> str:
        done = sum(1 for m in messages if m["role"] == "assistant")
        if done < len(plan):
            step = plan[done]
            return format_tool_call(ToolCall(step["name"], dict(step.get("arguments") or {})))
        return "Done."

    return act
