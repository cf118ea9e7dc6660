"""Policies backed by a model: a local model directory (transformers generation with the
trainer's chat template, batched; greedy or sampled) and an OpenAI-compatible endpoint (HTTP).

Both answer in the tool-call wire format: the local model writes it itself; an endpoint's
structured `tool_calls` are rendered into it (schemas/tool_calls.py), so the episode loop parses
every policy the same way.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ...schemas.tool_calls import ToolCallParseError, format_tool_call, from_message_call
from ...trainer.episodes import Policy
from ..environment.tasks import Task
from .policies import EvalPolicy


class ModelDirPolicy(EvalPolicy):
    """A checkpoint directory (the trainer's, or any causal LM with our special tokens)."""

    name = "model"

    def __init__(
        self,
        directory: str | Path,
        *,
        sample: bool = False,
        temperature: float = 1.0,
        max_new_tokens: int = 128,
        seed: int = 0,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from ...trainer.template import load_prompt_format, set_prompt_format

        self.directory = Path(directory)
        self.checkpoint = str(self.directory.resolve())
        self.tokenizer = AutoTokenizer.from_pretrained(self.directory)
        # Prompts as the checkpoint was trained: with or without the tool schemas.
        set_prompt_format(self.tokenizer, load_prompt_format(self.directory))
        self.tokenizer.padding_side = "left"
        self.model = AutoModelForCausalLM.from_pretrained(self.directory).eval()
        self.sample, self.temperature = sample, temperature
        self.max_new_tokens, self.seed, self.calls = max_new_tokens, seed, 0
        self.max_positions = int(getattr(self.model.config, "max_position_embeddings", 2048))
        self.torch = torch
        self.batch = self.generate

    def _prompt_ids(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> list[int]:
        from ...trainer.template import prompt_ids

        ids = prompt_ids(self.tokenizer, messages, tools)
        keep = self.max_positions - self.max_new_tokens
        return ids[-keep:]  # the most recent context when a prompt is too long

    def generate(
        self, prompts: list[tuple[list[dict[str, Any]], list[dict[str, Any]]]]
    ) -> list[str]:
        from ...trainer.template import EOT

        torch = self.torch
        rows = [self._prompt_ids(m, t) for m, t in prompts]
        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
        eot = self.tokenizer.convert_tokens_to_ids(EOT)
        self.calls += 1
        torch.manual_seed(self.seed * 1_000_003 + self.calls)
        with torch.no_grad():
            out = self.model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=self.max_new_tokens,
                do_sample=self.sample,
                temperature=self.temperature if self.sample else None,
                top_p=None,
                top_k=None,
                eos_token_id=eot,
                pad_token_id=pad,
            )
        texts = self.tokenizer.batch_decode(out[:, width:], skip_special_tokens=False)
        return [t.split(EOT)[0].replace(self.tokenizer.pad_token or "\0", "") for t in texts]

    def start(self, task: Task, seed: int) -> Policy:
        return lambda messages, tools: self.generate([(messages, tools)])[0]


def redact_url(url: str) -> str:
    """The endpoint without credentials or query (what tables and events may hold)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def to_openai_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Our messages in the chat-completions shape (call ids, arguments as JSON text)."""
    out: list[dict[str, Any]] = []
    pending: list[str] = []
    for i, m in enumerate(messages):
        if m["role"] == "assistant":
            calls = []
            for j, c in enumerate(m.get("tool_calls") or []):
                call_id = f"call_{i}_{j}"
                fn = c["function"]
                calls.append(
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": fn["name"], "arguments": json.dumps(fn["arguments"])},
                    }
                )
                pending.append(call_id)
            msg: dict[str, Any] = {"role": "assistant", "content": m.get("content") or ""}
            if calls:
                msg["tool_calls"] = calls
            out.append(msg)
        elif m["role"] == "tool":
            call_id = pending.pop(0) if pending else "call_unknown"
            out.append({"role": "tool", "tool_call_id": call_id, "content": m["content"]})
        else:
            out.append({"role": m["role"], "content": m["content"]})
    return out


class EndpointPolicy(EvalPolicy):
    """An OpenAI-compatible chat-completions endpoint (`.../v1`); the API key, if any, comes
    from the settings (TRACELAKE_EVALUATION__API_KEY) and never reaches tables, events or
    errors."""

    name = "endpoint"

    def __init__(
        self,
        url: str,
        *,
        model: str = "default",
        temperature: float = 0.0,
        timeout_s: float = 60.0,
        seed: int = 0,
        api_key: str | None = None,
    ) -> None:
        self.api_key = api_key
        self.url = url
        self.checkpoint = f"{redact_url(self.url)}#{model}"
        self.model, self.temperature, self.timeout_s, self.seed = (
            model,
            temperature,
            timeout_s,
            seed,
        )

    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> str:
        body = {
            "model": self.model,
            "messages": to_openai_messages(messages),
            "tools": tools,
            "temperature": self.temperature,
            "seed": self.seed,
        }
        headers = {"Content-Type": "application/json"}
        parts = urlsplit(self.url)
        key = self.api_key
        if key:
            headers["Authorization"] = f"Bearer {key}"
        elif parts.username:  # credentials in the URL: basic auth, never part of the address
            token = base64.b64encode(f"{parts.username}:{parts.password or ''}".encode())
            headers["Authorization"] = "Basic " + token.decode()
        target = redact_url(self.url).rstrip("/") + "/chat/completions"
        if parts.query:
            target += "?" + parts.query
        request = urllib.request.Request(target, json.dumps(body).encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                reply = json.loads(response.read())
        except (urllib.error.URLError, TimeoutError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise EndpointError(f"{redact_url(self.url)}: {reason}") from None
        try:
            message = reply["choices"][0]["message"]
        except (KeyError, IndexError, TypeError):
            raise EndpointError(
                f"{redact_url(self.url)}: reply has no choices[0].message"
            ) from None
        text = message.get("content") or ""
        for call in message.get("tool_calls") or []:
            try:
                text += format_tool_call(from_message_call(call))
            except ToolCallParseError as exc:  # keep it in the text: the loop records it
                text += f"<tool_call>{json.dumps(str(exc))}</tool_call>"
        return text

    def start(self, task: Task, seed: int) -> Policy:
        return self.complete


class EndpointError(RuntimeError):
    """The endpoint could not be reached or answered something unusable."""
