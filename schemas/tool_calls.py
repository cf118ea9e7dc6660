"""The tool-call wire format: how an assistant turn writes a call, and how a result comes back.

One format for gold assembly (rendering examples), the trainer's chat template and the
evaluation loop (parsing what a model generated), so the three can never drift apart:

    assistant text, then one block per call:
    <tool_call>{"name": "search_docs", "arguments": {"query": "refund policy"}}</tool_call>

    a tool turn returns its observation as:
    <tool_response>{"name": "search_docs", "content": "..."}</tool_response>

The JSON inside a block is one object, keys in that order, written compactly with sorted
argument keys (`format_tool_call`), so the same call always renders to the same tokens.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"
RESPONSE_OPEN, RESPONSE_CLOSE = "<tool_response>", "</tool_response>"
# Special tokens a tokenizer must keep whole (the trainer adds them as new tokens).
WIRE_TOKENS = (CALL_OPEN, CALL_CLOSE, RESPONSE_OPEN, RESPONSE_CLOSE)

_CALL_BLOCK = re.compile(re.escape(CALL_OPEN) + r"(.*?)" + re.escape(CALL_CLOSE), re.DOTALL)


class ToolCallParseError(ValueError):
    """A <tool_call> block that is not one JSON object with a name and object arguments."""


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)

    def to_openai(self, call_id: str | None = None) -> dict[str, Any]:
        """The OpenAI / TRL message shape: {"type": "function", "function": {...}}."""
        call: dict[str, Any] = {
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }
        if call_id is not None:
            call["id"] = call_id
        return call


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))


def from_message_call(call: dict[str, Any]) -> ToolCall:
    """A message's tool call (OpenAI shape, arguments as dict or JSON text) as a ToolCall."""
    function = call.get("function", call)
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise ToolCallParseError(f"tool call without a name: {call!r}")
    arguments = function.get("arguments") or {}
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError as exc:
            raise ToolCallParseError(f"{name}: arguments are not JSON ({exc.msg})") from None
    if not isinstance(arguments, dict):
        raise ToolCallParseError(f"{name}: arguments must be a JSON object")
    return ToolCall(name, arguments)


def format_tool_call(call: ToolCall) -> str:
    body = '{"name": ' + json.dumps(call.name, ensure_ascii=False)
    body += ', "arguments": ' + _dumps(call.arguments) + "}"
    return f"{CALL_OPEN}{body}{CALL_CLOSE}"


def format_tool_response(name: str | None, content: str) -> str:
    body = '{"name": ' + json.dumps(name or "", ensure_ascii=False)
    body += ', "content": ' + json.dumps(content, ensure_ascii=False) + "}"
    return f"{RESPONSE_OPEN}{body}{RESPONSE_CLOSE}"


def parse_tool_calls(text: str) -> tuple[str, list[ToolCall]]:
    """Split generated text into (prose without the blocks, calls in order).

    Raises ToolCallParseError for a block that is not valid; an unterminated block at the end
    (generation cut off) is an error too, since acting on half a call would be wrong.
    """
    calls = []
    for match in _CALL_BLOCK.finditer(text):
        try:
            obj = json.loads(match.group(1))
        except json.JSONDecodeError as exc:
            raise ToolCallParseError(
                f"tool call is not JSON ({exc.msg}): {match.group(1)[:80]!r}"
            ) from None
        if not isinstance(obj, dict):
            raise ToolCallParseError("tool call must be a JSON object")
        calls.append(from_message_call(obj))
    prose = _CALL_BLOCK.sub("", text)
    if CALL_OPEN in prose:
        raise ToolCallParseError("unterminated <tool_call> block")
    return prose.strip(), calls


def parse_tool_response(text: str) -> tuple[str, str]:
    """(tool name, content) of one rendered tool response."""
    inner = text.strip()
    if not (inner.startswith(RESPONSE_OPEN) and inner.endswith(RESPONSE_CLOSE)):
        raise ToolCallParseError("not a <tool_response> block")
    obj = json.loads(inner[len(RESPONSE_OPEN) : -len(RESPONSE_CLOSE)])
    return obj["name"], obj["content"]
