"""The trainer's own recipes on whatever device torch finds: a short SFT run from the fixture
export, or a few GRPO steps in the executable environment, with every model option on `auto`
(a GPU: bfloat16 and the packed attention), then the checkpoint's reload check. On a bare GPU
machine it needs torch, transformers, peft, tokenizers, pyarrow, yaml and pydantic (GRPO: also
orjson); tracelake itself need not be installed.

    python tests/benchmarks/gpu_trainer_smoke.py [--recipe sft|grpo] [--steps 20]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipe", choices=("sft", "grpo"), default="sft")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args(argv)
    from bench_train import importable_trainer

    importable_trainer(schemas=True, environment=args.recipe == "grpo")
    from trainer_fixture import sft_rows, write_all

    from tracelake.trainer.session import ModelOptions

    root = Path(tempfile.mkdtemp(prefix="gpu-smoke-"))
    model = ModelOptions()
    device, dtype, attention = model.resolved()
    if args.recipe == "grpo":
        from tracelake.jobs.environment import Environment, make_training_tasks
        from tracelake.trainer.grpo import GRPOOptions, run_grpo
        from tracelake.trainer.sft import corpus_text

        grpo = GRPOOptions(
            output_dir=str(root / "ckpt"),
            steps=args.steps,
            tasks_per_step=2,
            group_size=4,
            max_new_tokens=32,
            max_turns=2,
            model=model,
        )
        corpus = corpus_text(sft_rows(40, 1))
        record = run_grpo(grpo, Environment, make_training_tasks, corpus)
    else:
        from tracelake.trainer.sft import SFTOptions, run_sft

        exports = write_all(str(root / "exports"), n_sft=120, n_pairs=8)
        options = SFTOptions(
            output_dir=str(root / "ckpt"),
            steps=args.steps,
            max_length=512,
            pack_capacity=2048,
            model=model,
        )
        record = run_sft(exports["sft"], options)
    check = json.loads((root / "ckpt" / "reload_check.json").read_text())
    print(
        json.dumps(
            {
                "recipe": args.recipe,
                "device": str(device),
                "dtype": str(dtype),
                "attention": attention,
                "loss_first": record.loss_first,
                "loss_last": record.loss_last,
                "heldout_loss": record.eval.get("heldout_loss"),
                "unigram_baseline": record.eval.get("unigram_baseline"),
                "tokens_per_s": record.tokens_per_s,
                "reload_check": check,
            }
        )
    )
    # GRPO's loss is a policy-gradient surrogate: it need not fall in a few steps.
    learned = args.recipe == "grpo" or record.loss_last < record.loss_first
    return 0 if check["ok"] and learned else 1


if __name__ == "__main__":
    sys.exit(main())
