"""The trainer's own SFT recipe on whatever device torch finds: a short run from the fixture
export with every model option on `auto` (a GPU: bfloat16 and the packed attention), then the
checkpoint's reload check. On a bare GPU machine it needs torch, transformers, peft, tokenizers,
pyarrow, yaml and pydantic; tracelake itself need not be installed.

    python tests/benchmarks/gpu_trainer_smoke.py [--steps 20]
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
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args(argv)
    from bench_train import importable_trainer

    importable_trainer(schemas=True)
    from trainer_fixture import write_all

    from tracelake.trainer.session import ModelOptions
    from tracelake.trainer.sft import SFTOptions, run_sft

    root = Path(tempfile.mkdtemp(prefix="gpu-smoke-"))
    exports = write_all(str(root / "exports"), n_sft=120, n_pairs=8)
    model = ModelOptions()
    device, dtype, attention = model.resolved()
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
    ok = check["ok"] and record.loss_last < record.loss_first
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
