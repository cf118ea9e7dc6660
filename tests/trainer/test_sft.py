"""SFT smoke run from the fixture export, the hybrid's parts, and bad input before training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tracelake.trainer.errors import TrainerInputError
from tracelake.trainer.model import HybridOptions
from tracelake.trainer.session import ModelOptions
from tracelake.trainer.sft import SFTOptions, run_sft


def test_sft_smoke_beats_unigram_and_reloads(exports, sft_smoke) -> None:
    record, out_dir = sft_smoke
    # A falling loss proves little: the held-out loss on supervised tokens must beat a unigram
    # model of the same data.
    assert record.eval["heldout_loss"] < record.eval["unigram_baseline"]
    assert record.loss_last < record.loss_first
    assert record.reload_check["ok"] and record.reload_check["max_abs_logit_diff"] <= 1e-6
    saved = json.loads((out_dir / "run_record.json").read_text())
    assert saved["manifest"] == exports["sft"] and saved["status"] == "succeeded"
    assert 0 < saved["supervised_pct"] < 100 and saved["padding_pct"] == 0.0
    assert saved["pack_fill_pct"] > 70
    assert saved["config_hash"] and (out_dir / "README.md").exists()
    assert (out_dir / "tokenizer.json").exists() and (out_dir / "config.json").exists()


def test_hybrid_trains_lora_low_blocks_full_top_and_new_tokens(
    exports, tokenizer, tmp_path: Path
) -> None:
    """From a model directory whose tokenizer lacks the tool-call tokens: they are added and
    only their embedding rows move; block 0 learns through LoRA, block 1 and the head in full."""
    from trainer_fixture import sft_rows
    from transformers import AutoModelForCausalLM

    from tracelake.trainer.model import build_model, tiny_config
    from tracelake.trainer.sft import corpus_text
    from tracelake.trainer.template import BOS, EOT, PAD, SPECIAL_TOKENS
    from tracelake.trainer.tokenizer import train_bpe

    base_dir = tmp_path / "base"
    plain = train_bpe(corpus_text(sft_rows(60, seed=4)), 400, special_tokens=(PAD, BOS, EOT))
    base_vocab = len(plain)
    assert "<tool_call>" not in plain.get_vocab()
    base = build_model(tiny_config(base_vocab), seed=1)
    base.save_pretrained(base_dir)
    plain.save_pretrained(base_dir)
    before = {k: v.clone() for k, v in base.state_dict().items()}

    options = SFTOptions(
        output_dir=str(tmp_path / "out"),
        steps=6,
        model=ModelOptions(path=str(base_dir), hybrid=HybridOptions(full_last_blocks=1)),
    )
    record = run_sft(exports["sft"], options)
    assert record.reload_check["ok"]
    after = AutoModelForCausalLM.from_pretrained(tmp_path / "out").state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k][: before[k].shape[0]])}
    assert any(k.startswith("model.layers.1.") for k in changed)  # full block
    assert "lm_head.weight" in changed
    assert any(k.startswith("model.layers.0.self_attn.q_proj") for k in changed)  # merged LoRA
    assert not any(k.startswith("model.layers.0.input_layernorm") for k in changed)  # frozen
    # The embedding grew by the new tokens; only their rows moved.
    embed_before, embed_after = (
        before["model.embed_tokens.weight"],
        after["model.embed_tokens.weight"],
    )
    assert embed_after.shape[0] == base_vocab + len(SPECIAL_TOKENS) - 3
    assert torch.equal(embed_after[:base_vocab], embed_before)
    assert record.parameters["trainable"] < record.parameters["total"]


def test_bad_inputs_fail_before_training(exports, tmp_path: Path) -> None:
    # A recipe that does not match the dataset's columns.
    with pytest.raises(TrainerInputError, match=r"lacks .*messages") as info:
        run_sft(exports["dpo"], SFTOptions(output_dir=str(tmp_path / "x")))
    assert "\n" not in str(info.value)
    # A model directory without a tokenizer.
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    opts = SFTOptions(
        output_dir=str(tmp_path / "y"), model=ModelOptions(path=str(tmp_path / "model"))
    )
    with pytest.raises(TrainerInputError, match="no tokenizer"):
        run_sft(exports["sft"], opts)
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_altered_or_missing_shard_fails_before_training(exports, tmp_path: Path) -> None:
    import shutil

    from tracelake.schemas.manifest import read_manifest

    copy = tmp_path / "copy"
    shutil.copytree(Path(exports["sft"]).parent, copy)
    manifest = read_manifest(str(copy))
    shard = copy / manifest.splits["train"].shards[1].path
    shard.write_bytes(shard.read_bytes()[:-1] + b"\0")
    with pytest.raises(TrainerInputError, match="differs from the manifest"):
        run_sft(str(copy / "manifest.json"), SFTOptions(output_dir=str(tmp_path / "z")))
    shard.unlink()
    with pytest.raises(TrainerInputError, match="shard missing"):
        run_sft(str(copy / "manifest.json"), SFTOptions(output_dir=str(tmp_path / "z")))
    assert not (tmp_path / "z").exists()


def test_smoke_figures_are_printed(sft_smoke, capsys) -> None:
    """Not an assertion of speed: the smoke's figures, for the log of a `make test` run."""
    record, _ = sft_smoke
    with capsys.disabled():
        print(
            f"\nsft smoke: held-out {record.eval['heldout_loss']:.3f} nats/token vs unigram "
            f"{record.eval['unigram_baseline']:.3f}; loss {record.loss_first:.3f} -> "
            f"{record.loss_last:.3f}; supervised {record.supervised_pct:.1f}%, "
            f"padding {record.padding_pct:.1f}%, rows {record.pack_fill_pct:.1f}% full"
        )
    assert record.steps == 40


def test_bf16_packed_attention_run_saves_and_reloads_as_trained(exports, tmp_path: Path) -> None:
    """The GPU configuration (bfloat16, variable-length attention), run on the CPU: training
    uses the packed attention, and the checkpoint reloads in the same dtype and attention and
    reproduces the trained model's logits exactly."""
    options = SFTOptions(
        output_dir=str(tmp_path / "bf16"),
        steps=4,
        max_length=512,
        pack_capacity=1024,
        model=ModelOptions(dtype="bfloat16", attention="packed"),
    )
    record = run_sft(exports["sft"], options)
    check = json.loads((tmp_path / "bf16" / "reload_check.json").read_text())
    assert check["dtype"] == "bfloat16" and check["attention"] == "tracelake_packed"
    assert record.reload_check["ok"] and check["max_abs_logit_diff"] <= 1e-6
    assert record.loss_last == record.loss_last  # not NaN


def test_tools_left_out_of_prompts_travel_with_the_checkpoint(exports, tmp_path: Path) -> None:
    """`model.tools_in_prompt: false` is saved with the checkpoint; evaluation and a recipe
    continuing from it render prompts the same way, unless told otherwise."""
    from trainer_fixture import TOOLS

    from tracelake.jobs.evaluation.job import make_policy
    from tracelake.trainer.tokenizer import load_tokenizer

    out = tmp_path / "bare"
    options = SFTOptions(
        output_dir=str(out),
        steps=2,
        max_length=512,
        pack_capacity=1024,
        model=ModelOptions(tools_in_prompt=False),
    )
    record = run_sft(exports["sft"], options)
    assert record.options["model"]["tools_in_prompt"] is False
    assert json.loads((out / "prompt_format.json").read_text()) == {"tools_in_prompt": False}
    assert ModelOptions(path=str(out)).prompt_format().tools_in_prompt is False
    assert ModelOptions(path=str(out), tools_in_prompt=True).prompt_format().tools_in_prompt
    tokenizer = load_tokenizer(out)
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "read notes"}]
    policy = make_policy(str(out), max_new_tokens=4)
    prompt = tokenizer.decode(policy._prompt_ids(messages, TOOLS))
    assert "read_file" not in prompt and prompt.rstrip().endswith("assistant")
    (out / "prompt_format.json").unlink()  # any other model directory: schemas in the prompt
    assert "read_file" in tokenizer.decode(make_policy(str(out))._prompt_ids(messages, TOOLS))
    with pytest.raises(TrainerInputError, match="tools_in_prompt='no'"):
        ModelOptions(tools_in_prompt="no")  # type: ignore[arg-type]


def test_model_options_refuse_unknown_choices() -> None:
    with pytest.raises(TrainerInputError, match=r"model\.attention='flash'"):
        ModelOptions(attention="flash")
    with pytest.raises(TrainerInputError, match=r"model\.dtype"):
        ModelOptions(dtype="float16")
    resolved = ModelOptions(device="cpu").resolved()
    assert resolved == (torch.device("cpu"), torch.float32, "sdpa")
