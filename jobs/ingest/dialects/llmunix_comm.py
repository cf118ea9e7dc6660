"""Agent-to-agent messages (docs/trace-formats.md B8, `communication_log.jsonl`) and simulation-mode
decision records (B9, TOOL_REQUEST / PROCESSING_RESULT objects)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ..component_names import resolve
from ..model import Rejection, SourceDoc
from ..units import parse_fraction, parse_int, parse_timestamp
from ._build import (
    SEQ_BASE,
    RunBuilder,
    derived_run_id,
    file_name,
    json_records,
    lines_position,
    workspace_run,
)

PRODUCER = "llmunix"
_MESSAGE_TYPES = {
    "request": "agent_message",
    "response": "agent_message",
    "notification": "agent_message",
    "delegation": "delegation",
    "error": "error",
}


def _first_object(head: bytes) -> dict[str, Any] | None:
    text = head.decode("utf-8", "replace").lstrip()
    if text.startswith("["):
        text = text[1:].lstrip()
    line = text.split("\n", 1)[0].rstrip().rstrip(",")
    try:
        obj = json.loads(line)
    except ValueError:
        try:
            obj, _ = json.JSONDecoder().raw_decode(text)
        except ValueError:
            return None
    return obj if isinstance(obj, dict) else None


def _run_builder(doc: SourceDoc, records: list[Any], kind: str) -> RunBuilder:
    ids = [
        r.get(k)
        for r in records
        if isinstance(r, dict)
        for k in ("execution_id", "run_id", "session_id")
        if r.get(k)
    ]
    near = workspace_run(doc.uri)
    run_id = str(ids[0]) if ids else near.execution_id or derived_run_id(doc.uri, kind)
    return RunBuilder(run_id, ts=near.start_time, seq=SEQ_BASE[kind])


def _bad(position: tuple[int, int], raw: str, why: str, code: str = "bad_json") -> Rejection:
    return Rejection(code, why, raw, lines_position(position))


def _raw_lines(text: str, where: tuple[int, int], first_line: int) -> str:
    lines = text.split("\n")
    return "\n".join(lines[where[0] - first_line : where[1] - first_line + 1])


class CommunicationLog:
    name = "llmunix.communication_log"
    producer = PRODUCER

    def sniff(self, uri: str, head: bytes) -> float:
        obj = _first_object(head)
        score = 0.0
        if obj is not None:
            hits = sum(1 for k in ("from_agent", "to_agent", "message_type") if k in obj)
            score = 0.3 * hits
        if file_name(uri).startswith("communication_log"):
            score += 0.25 if obj is not None else 0.0
        return min(score, 0.95)

    def parse(self, doc: SourceDoc) -> Iterator[dict[str, Any] | Rejection]:
        text = doc.text()
        records = list(json_records(text, doc.first_line))
        b = _run_builder(doc, [r for r, _, _ in records], "communication")
        open_requests: list[dict[str, Any]] = []
        for record, where, error in records:
            raw = _raw_lines(text, where, doc.first_line)
            if record is None:
                yield _bad(where, raw, f"{error}; fix or remove the line")
                continue
            if not isinstance(record, dict):
                yield _bad(where, raw, "line is JSON but not an object", "schema")
                continue
            kind = str(record.get("message_type") or record.get("type") or "").lower()
            sender = record.get("from_agent") or record.get("from")
            receiver = record.get("to_agent") or record.get("to")
            if kind not in _MESSAGE_TYPES or not (sender or receiver):
                yield _bad(
                    where,
                    raw,
                    f"message_type {kind or '(missing)'!r} not one of "
                    f"{', '.join(_MESSAGE_TYPES)}, or from_agent/to_agent missing",
                    "schema",
                )
                continue
            event_type = _MESSAGE_TYPES[kind]
            ts = parse_timestamp(record.get("timestamp"))
            if ts is not None:
                b.ts = ts
            parent = None
            if kind in ("response", "error"):
                match = [r for r in open_requests if r["attributes"].get("to_agent") == str(sender)]
                if match:
                    parent = match[-1]
                    open_requests.remove(parent)
            content = record.get("content")
            component = resolve(receiver if kind == "delegation" else sender, kind="agent")
            known = {
                "timestamp",
                "step",
                "from_agent",
                "to_agent",
                "message_type",
                "content",
                "context_snapshot",
                "from",
                "to",
                "type",
            }
            event = b.event(
                event_type,
                where,
                ts=ts,
                parent=parent,
                component=component,
                action=f"{kind} {sender} -> {receiver}",
                input=content if kind in ("request", "delegation") else None,
                output=content if kind in ("response", "notification") else None,
                error=(content if isinstance(content, str) else json.dumps(content))
                if kind == "error"
                else None,
                status="error" if kind == "error" else None,
                state_change=record.get("context_snapshot"),
                attributes={
                    "from_agent": sender,
                    "to_agent": receiver,
                    "message_type": kind,
                    "step": parse_int(record.get("step")),
                    **{k: v for k, v in record.items() if k not in known},
                },
            )
            if kind in ("request", "delegation"):
                open_requests.append(event)
            yield event


class DecisionRecords:
    name = "llmunix.decision_records"
    producer = PRODUCER

    def sniff(self, uri: str, head: bytes) -> float:
        obj = _first_object(head)
        if obj is None:
            return 0.0
        if obj.get("action") in ("TOOL_REQUEST", "PROCESSING_RESULT"):
            return 0.9
        return 0.0

    def parse(self, doc: SourceDoc) -> Iterator[dict[str, Any] | Rejection]:
        text = doc.text()
        records = list(json_records(text, doc.first_line))
        b = _run_builder(doc, [r for r, _, _ in records], "decisions")
        b.mode = "SIMULATION"
        last_call: dict[str, Any] | None = None
        for record, where, error in records:
            raw = _raw_lines(text, where, doc.first_line)
            if record is None:
                yield _bad(where, raw, f"{error}; fix or remove the record")
                continue
            action = record.get("action") if isinstance(record, dict) else None
            if action == "TOOL_REQUEST":
                known = {"action", "tool_name", "reasoning", "parameters"}
                last_call = b.event(
                    "tool_call",
                    where,
                    ts=parse_timestamp(record.get("timestamp")),
                    component=resolve(record.get("tool_name"), kind="tool"),
                    reasoning=record.get("reasoning"),
                    input=record.get("parameters"),
                    action="tool request",
                    status="pending",
                    attributes={k: v for k, v in record.items() if k not in known},
                )
                yield last_call
            elif action == "PROCESSING_RESULT":
                completion = str(record.get("completion_status") or "").upper() or None
                known = {"action", "content", "state_update", "confidence", "completion_status"}
                result = b.event(
                    "tool_result",
                    where,
                    ts=parse_timestamp(record.get("timestamp")),
                    parent=last_call,
                    component=None,
                    output=record.get("content"),
                    state_change=record.get("state_update"),
                    action="processing result",
                    status="ok",
                    attributes={
                        "confidence": parse_fraction(record.get("confidence")),
                        "completion_status": completion,
                        "tool_name": last_call.get("component_name") if last_call else None,
                        **{k: v for k, v in record.items() if k not in known},
                    },
                )
                yield result
                if completion == "COMPLETE":
                    yield b.event(
                        "run_completed",
                        where,
                        ts=parse_timestamp(record.get("timestamp")),
                        parent=result,
                        status="ok",
                        action="simulation complete",
                        attributes={"outcome": "success"},
                    )
            else:
                yield _bad(
                    where,
                    raw,
                    f"decision record action {action!r} is not TOOL_REQUEST or PROCESSING_RESULT",
                    "schema",
                )


DIALECTS = [CommunicationLog(), DecisionRecords()]
