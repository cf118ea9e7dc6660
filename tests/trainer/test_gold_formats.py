"""Gold rows in the formats trainers read: a `messages` sample through transformers'
apply_chat_template(..., tools=...) with a template built here, and preference pairs through TRL's
preprocessing. No model hub: the tokenizer is a BPE trained in the test."""

from __future__ import annotations

import json

from gold_runs import recovery_run

from tracelake.jobs.gold import pairs
from tracelake.jobs.gold.assemble import assemble

# A template of our own (not the trainer's), in the common Hermes style: tools in the system
# turn, calls and observations as tagged JSON.
TEMPLATE = (
    "{%- if tools %}<|system|>tools:{% for t in tools %} {{ t.function.name }}"
    "({{ t.function.parameters | tojson }}){% endfor %}\n{% endif -%}"
    "{%- for m in messages -%}"
    "{%- if m.role == 'assistant' -%}<|assistant|>{{ m.content }}"
    "{%- for c in m.tool_calls or [] -%}"
    '<call>{"name": "{{ c.function.name }}", "arguments": {{ c.function.arguments }}}</call>'
    "{%- endfor %}\n"
    "{%- elif m.role == 'tool' -%}<|tool|>{{ m.name }}: {{ m.content }}\n"
    "{%- else -%}<|{{ m.role }}|>{{ m.content }}\n{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt %}<|assistant|>{% endif -%}"
)


def _tokenizer(texts):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=300,
            special_tokens=["<eos>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<eos>")
    fast.chat_template = TEMPLATE
    return fast


def test_messages_render_through_apply_chat_template_with_tools():
    example = assemble(recovery_run()).example
    tools = json.loads(example["tools"])
    tokenizer = _tokenizer([json.dumps(example["messages"])])
    text = tokenizer.apply_chat_template(example["messages"], tools=tools, tokenize=False)
    assert "WebFetcherTool(" in text.splitlines()[0]  # the tools with their JSON Schemas
    assert '"pattern": "^https://"' in text.splitlines()[0]
    assert '<call>{"name": "ArchiveFetcherTool", "arguments": {"url":' in text
    assert "<|tool|>WebFetcherTool: error (http_403): HTTP 403 Forbidden" in text
    assert '<|tool|>SummarizationAgent: {"artifact": "summary-1"}' in text
    ids = tokenizer.apply_chat_template(example["messages"], tools=tools, tokenize=True)
    assert len(ids) > 0


def test_trainer_template_supervises_the_recovery_not_the_failure(tokenizer):
    from tracelake.trainer.template import tokenize_messages

    example = assemble(recovery_run()).example
    out = tokenize_messages(tokenizer, example["messages"], json.loads(example["tools"]))
    text = tokenizer.decode([t for t, w in zip(out.input_ids, out.weights, strict=True) if w])
    assert "ArchiveFetcherTool" in text and "WebFetcherTool" not in text


def test_preferences_load_through_trl_preprocessing():
    from datasets import Dataset
    from trl.data_utils import is_conversational, maybe_apply_chat_template

    events = recovery_run("run-a")
    failed = [
        *recovery_run("run-b")[:9],
        {
            **recovery_run("run-b")[-1],
            "event_id": "run-b-099",
            "seq": 9,
            "event_type": "run_failed",
            "status": "error",
            "output": json.dumps({"answer": "could not fetch the page"}),
        },
    ]
    rows = pairs.rule_pairs([assemble(events).example, assemble(failed).example])
    assert rows
    tokenizer = _tokenizer([json.dumps(r["chosen"]) for r in rows])
    ds = Dataset.from_list([{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in rows])
    assert is_conversational(ds[0])
    out = ds.map(
        maybe_apply_chat_template,
        fn_kwargs={"processing_class": tokenizer, "tools": json.loads(rows[0]["tools"])},
    )
    assert '<call>{"name": "ArchiveFetcherTool"' in out[0]["chosen"]  # tool calls kept
    assert "could not fetch the page" in out[0]["rejected"]
    assert "HTTP 403" in out[0]["prompt"]
