"""Golden test of the training template: exactly the assistant output is supervised."""

from __future__ import annotations

import pytest
from trainer_fixture import TOOLS, conversation

from tracelake.schemas.tool_calls import format_tool_call, from_message_call
from tracelake.trainer.errors import TrainerInputError
from tracelake.trainer.template import (
    EOT,
    ExampleRejected,
    PromptFormat,
    load_prompt_format,
    prompt_format,
    prompt_ids,
    set_prompt_format,
    tokenize_messages,
    tokenize_within_limit,
)


def expected_supervised(message: dict) -> str:
    text = f"<think>{message['reasoning']}</think>\n" if message.get("reasoning") else ""
    text += message.get("content") or ""
    text += "".join(format_tool_call(from_message_call(c)) for c in message.get("tool_calls") or [])
    return text + EOT


def spans(weights: list[float]) -> list[tuple[int, int, float]]:
    out, start = [], None
    for i, w in enumerate([*weights, 0.0]):
        if w > 0 and start is None:
            start = i
        elif w == 0 and start is not None:
            out.append((start, i, weights[start]))
            start = None
    return out


def test_only_assistant_output_is_supervised(tokenizer) -> None:
    import random

    messages, _ = conversation(random.Random(5), recover=True)
    example = tokenize_messages(tokenizer, messages, TOOLS)
    assert len(example.input_ids) == len(example.weights)
    supervised = [tokenizer.decode(example.input_ids[a:b]) for a, b, _ in spans(example.weights)]
    # The failed first attempt has weight 0; the recovery and the answer are supervised, each
    # with its reasoning, its tool call in the wire format and the end-of-turn token.
    wanted = [expected_supervised(m) for m in messages if m["role"] == "assistant" and m["weight"]]
    assert supervised == wanted
    # Nothing else: every prompt, observation and role header token has weight 0.
    text_everything = tokenizer.decode(example.input_ids)
    assert "<tool_response>" in text_everything and '"read_file"' in text_everything
    unsupervised = [
        tokenizer.decode([t])
        for t, w in zip(example.input_ids, example.weights, strict=True)
        if w == 0
    ]
    assert "<tool_response>" in unsupervised and "<|im_start|>" in unsupervised
    assert sum(w > 0 for w in example.weights) == sum(
        len(tokenizer(s, add_special_tokens=False)["input_ids"]) for s in wanted
    )


def test_prefix_preserving(tokenizer) -> None:
    """Rendering the first k turns gives a prefix of rendering all of them (reasoning kept)."""
    import random

    messages, _ = conversation(random.Random(9))
    full = tokenize_messages(tokenizer, messages, TOOLS).input_ids
    for k in range(3, len(messages)):
        if messages[k - 1]["role"] == "assistant":
            part = tokenize_messages(tokenizer, messages[:k], TOOLS).input_ids
            assert full[: len(part)] == part


def test_generation_prompt_is_the_trained_context(tokenizer) -> None:
    """The prompt a model generates from (evaluation, GRPO) is the conversation's tokens up to
    each assistant turn's first supervised token, newline after `assistant` included: with it
    missing, a trained model starts off-distribution and writes no tool call."""
    import random

    messages, _ = conversation(random.Random(9))
    for k, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        example = tokenize_messages(tokenizer, messages[: k + 1], TOOLS)
        prompt = prompt_ids(tokenizer, messages[:k], TOOLS)
        assert example.input_ids[: len(prompt)] == prompt
        assert example.weights[len(prompt)] > 0 and example.weights[len(prompt) - 1] == 0


def test_without_tools_in_prompt_the_schemas_are_left_out_everywhere(tokenizer, tmp_path) -> None:
    """A model trained without tool schemas sees none at inference either: training examples
    and generation prompts drop them alike, and the prompt is still the trained context."""
    import copy
    import random

    bare = copy.deepcopy(tokenizer)
    set_prompt_format(bare, PromptFormat(tools_in_prompt=False))
    assert prompt_format(tokenizer).tools_in_prompt  # the shared fixture is untouched
    messages, _ = conversation(random.Random(9))
    with_tools = tokenize_messages(tokenizer, messages, TOOLS)
    without = tokenize_messages(bare, messages, TOOLS)
    assert without.input_ids == tokenize_messages(tokenizer, messages, []).input_ids
    assert len(without.input_ids) < len(with_tools.input_ids)
    assert "search_docs" in tokenizer.decode(with_tools.input_ids)
    assert "search_docs" not in bare.decode(without.input_ids)
    assert [w for w in without.weights if w] == [w for w in with_tools.weights if w]
    for k, message in enumerate(messages):
        if message["role"] == "assistant":
            prompt = prompt_ids(bare, messages[:k], TOOLS)
            example = tokenize_messages(bare, messages[: k + 1], TOOLS)
            assert example.input_ids[: len(prompt)] == prompt
            assert example.weights[len(prompt)] > 0
    # a checkpoint without the file is any model: tools in the prompt; a broken file is named
    assert load_prompt_format(tmp_path).tools_in_prompt
    (tmp_path / "prompt_format.json").write_text('{"tools_in_prompt": "no"}')
    with pytest.raises(TrainerInputError, match=r"prompt_format\.json: tools_in_prompt"):
        load_prompt_format(tmp_path)
    (tmp_path / "prompt_format.json").write_text('{"tool_schemas": false}')
    with pytest.raises(TrainerInputError, match="not a prompt format"):
        load_prompt_format(tmp_path)


def test_over_limit_is_cut_at_a_turn_boundary_or_rejected(tokenizer) -> None:
    import random

    messages, _ = conversation(random.Random(2))
    full = tokenize_messages(tokenizer, messages, TOOLS)
    first_turn = tokenize_messages(tokenizer, messages[:3], TOOLS)
    cut = tokenize_within_limit(tokenizer, messages, TOOLS, max_length=len(full.input_ids) - 1)
    assert cut.dropped_turns == 1 and cut.input_ids == first_turn.input_ids
    with pytest.raises(ExampleRejected, match="max_length"):
        tokenize_within_limit(tokenizer, messages, TOOLS, max_length=len(first_turn.input_ids) - 1)


def test_bad_tool_call_is_rejected(tokenizer) -> None:
    messages = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{oops"}}]},
    ]
    with pytest.raises(ExampleRejected, match="arguments are not JSON"):
        tokenize_messages(tokenizer, messages, TOOLS)
