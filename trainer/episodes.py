"""The episode loop: a policy acts in an executable environment through the tool-call wire format.

Shared by GRPO (training) and the evaluation benchmark: the policy sees the conversation so far
(our chat template), writes one assistant turn; its <tool_call> blocks are executed and returned as
tool turns; a turn without a call is the final answer. A turn that does not parse ends the episode
with the parse error recorded (the environment scores the empty answer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tracelake.schemas.tool_calls import ToolCallParseError, parse_tool_calls

from .environment import EnvironmentLike, EpisodeOutcomeLike

# (messages so far, tools) -> the assistant's next turn as text (wire format for tool calls)
Policy = Callable[[list[dict[str, Any]], list[dict[str, Any]]], str]


@dataclass
class Episode:
    task_id: str
    messages: list[dict[str, Any]]
    outcome: EpisodeOutcomeLike
    turns: int
    parse_errors: list[str] = field(default_factory=list)


def initial_messages(task: Any) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": "You are an agent. Use the tools, then answer."},
        {"role": "user", "content": task.goal},
    ]


def run_episode(policy: Policy, env: EnvironmentLike, task: Any, max_turns: int) -> Episode:
    messages = initial_messages(task)
    errors: list[str] = []
    for turn in range(max_turns):
        text = policy(messages, env.tools)
        try:
            prose, calls = parse_tool_calls(text)
        except ToolCallParseError as exc:
            errors.append(str(exc))
            messages.append({"role": "assistant", "content": text})
            return Episode(task.task_id, messages, env.finish(""), turn + 1, errors)
        messages.append(
            {
                "role": "assistant",
                "content": prose,
                "tool_calls": [c.to_openai() for c in calls],
            }
        )
        if not calls:
            return Episode(task.task_id, messages, env.finish(prose), turn + 1, errors)
        for call in calls:
            obs = env.call(call.name, call.arguments)
            content = obs.content if obs.ok else f"error: {obs.error}"
            messages.append({"role": "tool", "name": call.name, "content": content})
            if env.done:
                return Episode(task.task_id, messages, env.finish(""), turn + 1, errors)
    return Episode(task.task_id, messages, env.finish(""), max_turns, errors)


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
