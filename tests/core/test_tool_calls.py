"""The tool-call wire format round-trips and rejects what a model might half-generate."""

from __future__ import annotations

import pytest

from tracelake.schemas.tool_calls import (
    ToolCall,
    ToolCallParseError,
    format_tool_call,
    format_tool_response,
    from_message_call,
    parse_tool_calls,
    parse_tool_response,
)


def test_round_trip_keeps_order_and_prose() -> None:
    calls = [ToolCall("read_file", {"path": "a.txt"}), ToolCall("search", {"q": "x", "k": 2})]
    text = "Let me look." + "".join(format_tool_call(c) for c in calls)
    prose, parsed = parse_tool_calls(text)
    assert prose == "Let me look."
    assert parsed == calls


def test_rendering_is_canonical() -> None:
    a = format_tool_call(ToolCall("f", {"b": 1, "a": "é"}))
    b = format_tool_call(
        from_message_call({"function": {"name": "f", "arguments": '{"a": "é", "b": 1}'}})
    )
    assert a == b == '<tool_call>{"name": "f", "arguments": {"a": "é", "b": 1}}</tool_call>'


@pytest.mark.parametrize(
    "text, reason",
    [
        ("<tool_call>{not json}</tool_call>", "not JSON"),
        ('<tool_call>{"arguments": {}}</tool_call>', "without a name"),
        ('<tool_call>{"name": "f", "arguments": [1]}</tool_call>', "JSON object"),
        ('ok <tool_call>{"name": "f", "arguments": {}', "unterminated"),
    ],
)
def test_bad_blocks_are_rejected_with_reason(text: str, reason: str) -> None:
    with pytest.raises(ToolCallParseError, match=reason):
        parse_tool_calls(text)


def test_tool_response_round_trip() -> None:
    rendered = format_tool_response("read_file", 'line "1"\nline 2')
    assert parse_tool_response(rendered) == ("read_file", 'line "1"\nline 2')
