"""Chat fine-tuning JSONL (docs/trace-formats.md D): `{"messages": [...], "tools": [...]}` per line,
OpenAI-style `tool_calls` or legacy `functions` / `function_call`, per-turn `weight` 0|1.
Each line is one run; each message one or more events in order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ..component_names import resolve
from ..model import Rejection, SourceDoc, stable_id
from ._build import RunBuilder

PRODUCER = "chat-jsonl"
_REASONING_KEYS = ("reasoning_content", "reasoning", "thinking")


def _text(content: Any) -> str | None:
    """Message content as text: strings as they are, content-part lists joined."""
    if content is None:
        return None
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict):
                parts.append(str(part.get("text") or part.get("content") or ""))
            else:
                parts.append(str(part))
        return "\n".join(p for p in parts if p) or None
    return json.dumps(content, ensure_ascii=False)


def _arguments(raw: Any) -> tuple[Any, bool]:
    """Function arguments (a JSON string by the spec) as data; False when they are not JSON."""
    if not isinstance(raw, str):
        return raw, True
    try:
        return json.loads(raw), True
    except ValueError:
        return raw, False


def _tool_names(record: dict[str, Any]) -> list[str]:
    names = []
    for tool in record.get("tools") or []:
        if isinstance(tool, dict):
            fn = tool.get("function") if isinstance(tool.get("function"), dict) else tool
            if fn.get("name"):
                names.append(str(fn["name"]))
    for fn in record.get("functions") or []:
        if isinstance(fn, dict) and fn.get("name"):
            names.append(str(fn["name"]))
    return names


class ChatJsonl:
    name = "chat.jsonl"
    producer = PRODUCER

    def sniff(self, uri: str, head: bytes) -> float:
        line = head.lstrip().split(b"\n", 1)[0]
        if not line.startswith(b"{"):
            return 0.0
        try:
            obj = json.loads(line)
        except ValueError:
            return 0.35 if b'"messages"' in line and b'"role"' in line else 0.0
        if not isinstance(obj, dict) or not isinstance(obj.get("messages"), list):
            return 0.0
        if "event_type" in obj:
            return 0.0
        roles = [m.get("role") for m in obj["messages"] if isinstance(m, dict)]
        return 0.9 if roles else 0.5

    def parse(self, doc: SourceDoc) -> Iterator[dict[str, Any] | Rejection]:
        for offset, line in enumerate(doc.data.split(b"\n")):
            if not line.strip():
                continue
            lineno = doc.first_line + offset
            where = (lineno, lineno)
            position = f"lines:{lineno}-{lineno}"
            try:
                record = json.loads(line)
            except ValueError as exc:
                yield Rejection("bad_json", f"line is not valid JSON ({exc})", line, position)
                continue
            if not isinstance(record, dict) or not isinstance(record.get("messages"), list):
                yield Rejection(
                    "schema",
                    "line has no `messages` list; each line must be one conversation",
                    line,
                    position,
                )
                continue
            yield from self._conversation(record, line, where)

    def _conversation(self, record: dict[str, Any], line: bytes, where: tuple[int, int]):
        position = f"lines:{where[0]}-{where[1]}"
        own_id = record.get("id") or record.get("conversation_id")
        run_id = str(own_id) if own_id else f"chat-{stable_id(line)[:24]}"
        b = RunBuilder(run_id)
        messages = record["messages"]
        first_user = next(
            (
                _text(m.get("content"))
                for m in messages
                if isinstance(m, dict) and m.get("role") == "user"
            ),
            None,
        )
        tools = _tool_names(record)
        yield b.event(
            "run_started",
            where,
            goal=first_user,
            input={"tools": record.get("tools") or record.get("functions")} if tools else None,
            action="conversation",
            attributes={
                "messages": len(messages),
                "tools": tools or None,
                "tool_format": "functions"
                if record.get("functions")
                else "tools"
                if record.get("tools")
                else None,
                **{
                    k: v
                    for k, v in record.items()
                    if k not in ("messages", "tools", "functions", "id", "conversation_id")
                },
            },
        )
        calls_by_id: dict[str, dict[str, Any]] = {}
        open_by_name: dict[str, list[dict[str, Any]]] = {}
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in (
                "system",
                "user",
                "assistant",
                "tool",
                "function",
                "developer",
            ):
                role = message.get("role") if isinstance(message, dict) else None
                yield Rejection(
                    "schema",
                    f"message {index} has role {role!r}; expected system, user, assistant, "
                    "tool or function. The rest of the conversation was stored",
                    json.dumps(message, ensure_ascii=False),
                    position,
                )
                continue
            role = message["role"]
            attrs: dict[str, Any] = {"role": role, "message_index": index}
            if "weight" in message:
                attrs["weight"] = message["weight"]
            if message.get("name"):
                attrs["name"] = message["name"]
            text = _text(message.get("content"))
            if role in ("system", "user", "developer"):
                yield b.event(
                    "agent_message", where, input=text, attributes=attrs, action=f"{role} message"
                )
                continue
            if role == "assistant":
                reasoning = next((message[k] for k in _REASONING_KEYS if message.get(k)), None)
                if (
                    text
                    or reasoning
                    or not (message.get("tool_calls") or message.get("function_call"))
                ):
                    yield b.event(
                        "agent_message",
                        where,
                        output=text,
                        reasoning=reasoning,
                        attributes=attrs,
                        action="assistant message",
                    )
                calls = list(message.get("tool_calls") or [])
                if message.get("function_call"):
                    calls.append(
                        {"type": "function", "function": message["function_call"], "legacy": True}
                    )
                for n, call in enumerate(calls):
                    fn = call.get("function") if isinstance(call, dict) else None
                    if not isinstance(fn, dict) or not fn.get("name"):
                        yield Rejection(
                            "schema",
                            f"message {index} tool call {n} has no function name",
                            json.dumps(call, ensure_ascii=False),
                            position,
                        )
                        continue
                    args, valid = _arguments(fn.get("arguments"))
                    event = b.event(
                        "tool_call",
                        where,
                        component=resolve(fn["name"], kind="tool", camelise=False),
                        input=args,
                        action="function call" if call.get("legacy") else "tool call",
                        attributes={
                            **attrs,
                            "tool_call_id": call.get("id"),
                            "call_index": n,
                            "legacy_function_call": bool(call.get("legacy")) or None,
                            "arguments_not_json": None if valid else True,
                        },
                    )
                    yield event
                    if call.get("id"):
                        calls_by_id[str(call["id"])] = event
                    open_by_name.setdefault(str(fn["name"]), []).append(event)
                continue
            # tool / function results
            call_id = message.get("tool_call_id")
            parent = calls_by_id.get(str(call_id)) if call_id else None
            if parent is None and message.get("name"):
                pending = open_by_name.get(str(message["name"])) or []
                parent = pending.pop(0) if pending else None
            elif parent is not None:
                pending = open_by_name.get(
                    parent["attributes"].get("component_raw_name")
                    or parent.get("component_name", ""),
                    [],
                )
                if parent in pending:
                    pending.remove(parent)
            name = message.get("name") or (parent or {}).get("component_name")
            yield b.event(
                "tool_result",
                where,
                parent=parent,
                component=resolve(name, kind="tool", camelise=False) if name else None,
                output=text,
                status="ok",
                action="tool result",
                attributes={
                    **attrs,
                    "tool_call_id": call_id,
                    "unmatched": True if parent is None else None,
                },
            )


DIALECTS = [ChatJsonl()]
