"""Our training chat template and the tokenisation of one example into ids + per-token weights.

The template marks with `{% generation %}` exactly what the model is trained to produce: an
assistant turn's reasoning, content, tool calls and its end-of-turn token. Reasoning is rendered on
every assistant turn (never stripped from earlier turns), so the text of a prefix is the same
whether or not later turns follow: the template is prefix-preserving, and a multi-turn example
trains every turn with the exact context the model saw at that turn.

Tool calls and tool results are pre-rendered in Python with the shared wire format of
`tracelake.schemas.tool_calls`, so the template cannot drift from the parser evaluation uses.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tracelake.schemas.tool_calls import (
    WIRE_TOKENS,
    ToolCallParseError,
    format_tool_call,
    format_tool_response,
    from_message_call,
)

from .errors import TrainerInputError

BOS, EOT, PAD = "<|im_start|>", "<|im_end|>", "<|endoftext|>"
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
SPECIAL_TOKENS = (PAD, BOS, EOT, THINK_OPEN, THINK_CLOSE, *WIRE_TOKENS)

CHAT_TEMPLATE = (
    "{%- if tools and (messages | length == 0 or messages[0].role != 'system') -%}"
    "<|im_start|>system\n# Tools\n{% for t in tools %}{{ t | tojson }}\n{% endfor %}<|im_end|>\n"
    "{%- endif -%}"
    "{%- for message in messages -%}"
    "{%- if message.role == 'system' -%}"
    "<|im_start|>system\n{{ message.content }}"
    "{% if tools %}\n# Tools\n{% for t in tools %}{{ t | tojson }}\n{% endfor %}{% endif %}"
    "<|im_end|>\n"
    "{%- elif message.role == 'assistant' -%}"
    "<|im_start|>assistant\n{% generation %}"
    "{% if message.reasoning %}<think>{{ message.reasoning }}</think>\n{% endif %}"
    "{{ message.content or '' }}{{ message.rendered_calls or '' }}<|im_end|>"
    "{% endgeneration %}\n"
    "{%- elif message.role == 'tool' -%}"
    "<|im_start|>tool\n{{ message.rendered_response }}<|im_end|>\n"
    "{%- else -%}"
    "<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|im_start|>assistant\n{% endif -%}"
)


PROMPT_FORMAT_FILE = "prompt_format.json"
_FORMAT_ATTRIBUTE = "tracelake_prompt_format"


@dataclass(frozen=True)
class PromptFormat:
    """How a model's prompts are rendered, beyond the template itself. Chosen when a model is
    trained, kept on its tokenizer and saved with its checkpoint, so that training and every
    later use (evaluation, GRPO rollouts, the next recipe) render the same context.

    `tools_in_prompt=False`: the tool schemas are left out of every prompt; the model is trained
    to know its components (the methodology's claim that a fine-tuned model needs no framework
    in its prompt), and every example is shorter by the schemas (most of a short episode).
    """

    tools_in_prompt: bool = True

    def tools(self, tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return tools if self.tools_in_prompt else []


def prompt_format(tokenizer: Any) -> PromptFormat:
    return getattr(tokenizer, _FORMAT_ATTRIBUTE, None) or PromptFormat()


def set_prompt_format(tokenizer: Any, fmt: PromptFormat) -> None:
    setattr(tokenizer, _FORMAT_ATTRIBUTE, fmt)


def save_prompt_format(tokenizer: Any, directory: str | Path) -> None:
    path = Path(directory) / PROMPT_FORMAT_FILE
    path.write_text(json.dumps(asdict(prompt_format(tokenizer)), indent=2) + "\n")


def load_prompt_format(directory: str | Path) -> PromptFormat:
    """The format a checkpoint was trained with; the default for a model directory without
    one (any Hugging Face model: tools in the prompt)."""
    path = Path(directory) / PROMPT_FORMAT_FILE
    if not path.is_file():
        return PromptFormat()
    try:
        data = json.loads(path.read_text())
        fmt = PromptFormat(**data)
    except (json.JSONDecodeError, TypeError) as exc:
        raise TrainerInputError(f"{path}: not a prompt format ({exc}); delete or fix it") from None
    if not isinstance(fmt.tools_in_prompt, bool):
        raise TrainerInputError(f"{path}: tools_in_prompt must be true or false")
    return fmt


@dataclass(frozen=True)
class TokenizedExample:
    input_ids: list[int]
    weights: list[float]  # per token; > 0 only on supervised (assistant-generated) tokens
    dropped_turns: int = 0  # assistant turns cut off by the length limit (counted, not silent)


class ExampleRejected(ValueError):
    """An example that cannot be trained on; the message is the reason."""


def parse_tools(tools: Any) -> list[dict[str, Any]]:
    """The `tools` column is a JSON string (heterogeneous schemas); a list is accepted too."""
    if tools is None or tools == "":
        return []
    if isinstance(tools, str):
        try:
            tools = json.loads(tools)
        except json.JSONDecodeError as exc:
            raise ExampleRejected(f"tools is not JSON ({exc.msg})") from None
    if not isinstance(tools, list):
        raise ExampleRejected("tools must be a JSON list of function schemas")
    return tools


def prepare_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages with tool calls / results rendered in the wire format, and numeric weights.

    A message's `weight` defaults to 1 for assistant turns and is forced to 0 for everything else
    (prompts and observations are never supervised).
    """
    prepared = []
    for index, message in enumerate(messages):
        role = message.get("role")
        if role not in {"system", "user", "assistant", "tool"}:
            raise ExampleRejected(f"message {index} has unknown role {role!r}")
        out = {k: v for k, v in message.items() if v is not None}
        out.setdefault("content", "")
        if role == "assistant":
            try:
                calls = [from_message_call(c) for c in message.get("tool_calls") or []]
            except ToolCallParseError as exc:
                raise ExampleRejected(f"message {index}: {exc}") from None
            out["rendered_calls"] = "".join(format_tool_call(c) for c in calls)
            weight = message.get("weight")
            out["weight"] = 1.0 if weight is None else float(weight)
        else:
            out["weight"] = 0.0
        if role == "tool":
            out["rendered_response"] = format_tool_response(message.get("name"), out["content"])
        prepared.append(out)
    return prepared


def prompt_ids(
    tokenizer: Any, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
) -> list[int]:
    """The token ids of a conversation so far, ending with the assistant's generation prompt.

    Exactly the tokens that precede an assistant turn's first supervised token in training
    (`<|im_start|>assistant` and its newline): a prefix of the same conversation tokenised with
    the turn, so a model generates from the context it was trained in.
    """
    ids = tokenizer.apply_chat_template(
        prepare_messages(messages),
        tools=prompt_format(tokenizer).tools(tools) or None,
        chat_template=CHAT_TEMPLATE,
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
    )["input_ids"]
    return list(ids)


def _generation_runs(mask: list[int]) -> list[tuple[int, int]]:
    runs, start = [], None
    for i, bit in enumerate([*mask, 0]):
        if bit and start is None:
            start = i
        elif not bit and start is not None:
            runs.append((start, i))
            start = None
    return runs


def tokenize_messages(
    tokenizer: Any, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
) -> TokenizedExample:
    """Render with the template; the k-th `{% generation %}` span gets the k-th assistant weight."""
    prepared = prepare_messages(messages)
    encoded = tokenizer.apply_chat_template(
        prepared,
        tools=prompt_format(tokenizer).tools(tools) or None,
        chat_template=CHAT_TEMPLATE,
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    ids = list(encoded["input_ids"])
    runs = _generation_runs(list(encoded["assistant_masks"]))
    assistant_weights = [m["weight"] for m in prepared if m["role"] == "assistant"]
    if len(runs) != len(assistant_weights):
        raise ExampleRejected(
            f"template produced {len(runs)} generation spans for "
            f"{len(assistant_weights)} assistant turns"
        )
    weights = [0.0] * len(ids)
    for (start, end), weight in zip(runs, assistant_weights, strict=True):
        weights[start:end] = [weight] * (end - start)
    return TokenizedExample(ids, weights)


def tokenize_within_limit(
    tokenizer: Any, messages: list[dict[str, Any]], tools: list[dict[str, Any]], max_length: int
) -> TokenizedExample:
    """Fit an example into `max_length` by dropping whole trailing turns, never cutting one.

    The longest prefix that ends after an assistant turn and fits is kept; the assistant turns
    left out are counted. An example whose first assistant turn does not fit is rejected with
    its reason (it would teach nothing, or teach a cut-off answer).
    """
    full = tokenize_messages(tokenizer, messages, tools)
    if len(full.input_ids) <= max_length:
        return full
    assistant_at = [i for i, m in enumerate(messages) if m.get("role") == "assistant"]
    for keep in range(len(assistant_at) - 1, 0, -1):
        prefix = messages[: assistant_at[keep - 1] + 1]
        example = tokenize_messages(tokenizer, prefix, tools)
        if len(example.input_ids) <= max_length:
            return TokenizedExample(
                example.input_ids, example.weights, dropped_turns=len(assistant_at) - keep
            )
    raise ExampleRejected(
        f"{len(full.input_ids)} tokens and its first assistant turn ends past max_length "
        f"{max_length}: raise max_length or shorten the example"
    )
