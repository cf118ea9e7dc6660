"""Training throughput on a GPU: real tokens/s, MFU, padding and peak memory at real shapes.

Random-initialised models of real shapes (no weights can be fetched), bf16, flash attention when
it is installed, else SDPA. Documents of varied length are packed best-fit-decreasing into
padding-free rows (the trainer's packing). Baseline in the same process: the same documents as
a padded batch (what an unpacked collator does); the script prints packed / padded.

MFU = tokens/s x (6 N + 12 L d T_eff) / peak, with N the matmul parameters (LM head included),
T_eff = sum(len^2) / sum(len) over the packed documents, peak 989 TFLOP/s (H100 SXM / H200 bf16
dense) and, beside it, the peak measured here with a large bf16 matmul.

    python tests/benchmarks/bench_train.py                 # GPU: 1.5B full, then 8B hybrid
    python tests/benchmarks/bench_train.py --dry-run       # CPU, toy shapes (run by make test)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

SHAPES = {
    # Qwen2-1.5B-like
    "1.5b": dict(shape="qwen2", hidden=1536, layers=28, heads=12, kv=2, ffn=8960, vocab=151936),
    # Llama-3-8B-like
    "8b": dict(shape="llama", hidden=4096, layers=32, heads=32, kv=8, ffn=14336, vocab=128256),
    "toy": dict(shape="llama", hidden=64, layers=2, heads=4, kv=2, ffn=128, vocab=512),
}
PEAK_TFLOPS = 989.0


def build(spec: dict, dtype: torch.dtype, device: str, attn: str):
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    cls = {"llama": LlamaConfig, "qwen2": Qwen2Config}[spec["shape"]]
    config = cls(
        vocab_size=spec["vocab"],
        hidden_size=spec["hidden"],
        intermediate_size=spec["ffn"],
        num_hidden_layers=spec["layers"],
        num_attention_heads=spec["heads"],
        num_key_value_heads=spec["kv"],
        max_position_embeddings=32768,
        tie_word_embeddings=False,
    )
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation=attn)
    return model


def documents(n_tokens: int, lo: int, hi: int, vocab: int, seed: int = 0) -> list[list[int]]:
    rng = random.Random(seed)
    docs, total = [], 0
    while total < n_tokens:
        length = rng.randint(lo, hi)
        docs.append([rng.randrange(vocab) for _ in range(length)])
        total += length
    return docs


def packed_rows(docs: list[list[int]], capacity: int):
    from tracelake.trainer.packing import pack
    from tracelake.trainer.template import TokenizedExample

    examples = [TokenizedExample(d, [1.0] * len(d)) for d in docs]
    return pack(examples, capacity)


def measured_peak_tflops(device: str, dtype: torch.dtype, n: int) -> float:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(device)
    t0, reps = time.perf_counter(), 10
    for _ in range(reps):
        a @ b
    sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e12


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def hybrid(model, full_last: int) -> None:
    """LoRA on blocks [0, L-k), full last k blocks and head (needs peft)."""
    from tracelake.trainer.model import HybridOptions, apply_hybrid

    model_, _ = apply_hybrid(model, HybridOptions(full_last_blocks=full_last, lora_rank=16), [])
    return model_


def run_case(name: str, args, device: str, dtype: torch.dtype, attn: str, peak: float) -> dict:
    spec = SHAPES[name]
    model = build(spec, dtype, device, attn)
    matmul_params = sum(
        p.numel() for n, p in model.named_parameters() if p.dim() == 2 and "embed" not in n
    )
    if name == "8b":
        if importlib.util.find_spec("peft") is None:
            return {"case": name, "skipped": "peft is not installed on this machine"}
        model = hybrid(model, full_last=2)
    model.train()
    if args.checkpointing and hasattr(model, "gradient_checkpointing_enable"):
        model.gradient_checkpointing_enable()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-5, fused=device == "cuda")
    docs = documents(args.tokens, args.min_len, args.max_len, spec["vocab"])
    rows = packed_rows(docs, args.capacity)

    def step(inputs: dict, labels: torch.Tensor) -> None:
        out = model(**inputs)
        loss = torch.nn.functional.cross_entropy(
            out.logits.float().flatten(0, 1), labels.flatten(), ignore_index=-100
        )
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def packed_inputs(row):
        return (
            {
                "input_ids": row.input_ids.to(device),
                "position_ids": row.position_ids.to(device),
                "attention_mask": None,
                "use_cache": False,
            },
            row.labels.to(device),
        )

    for row in rows[: args.warmup]:
        step(*packed_inputs(row))
    sync(device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    timed = rows[args.warmup : args.warmup + args.steps] or rows[:1]
    t0 = time.perf_counter()
    for row in timed:
        step(*packed_inputs(row))
    sync(device)
    seconds = time.perf_counter() - t0
    real = sum(r.real_tokens for r in timed)
    lens = [n for r in timed for n in r.lengths]
    t_eff = sum(n * n for n in lens) / sum(lens)
    tps = real / seconds
    flops_per_token = 6 * matmul_params + 12 * spec["layers"] * spec["hidden"] * t_eff
    capacity = sum(r.capacity for r in timed)
    computed = sum(r.input_ids.numel() for r in timed)

    # Baseline: the same documents as padded batches of the same token capacity.
    per_batch = max(1, args.capacity // args.max_len)
    batch_docs = docs[: sum(len(r.lengths) for r in timed)]
    t1, base_real = time.perf_counter(), 0
    for i in range(0, len(batch_docs), per_batch):
        chunk = batch_docs[i : i + per_batch]
        width = max(len(d) for d in chunk)
        ids = torch.zeros(len(chunk), width, dtype=torch.long)
        mask = torch.zeros(len(chunk), width, dtype=torch.long)
        for j, d in enumerate(chunk):
            ids[j, : len(d)] = torch.tensor(d)
            mask[j, : len(d)] = 1
        labels = ids.masked_fill(mask == 0, -100)
        step(
            {"input_ids": ids.to(device), "attention_mask": mask.to(device), "use_cache": False},
            labels.to(device),
        )
        base_real += sum(len(d) for d in chunk)
    sync(device)
    base_tps = base_real / (time.perf_counter() - t1)
    result = {
        "case": name,
        "attention": attn,
        "real_tokens_per_s": round(tps, 1),
        "mfu_vs_989": round(tps * flops_per_token / (PEAK_TFLOPS * 1e12), 4),
        "mfu_vs_measured": round(tps * flops_per_token / (peak * 1e12), 4) if peak else None,
        "padding_pct": round(100 * (1 - real / computed), 3),
        "row_fill_pct": round(100 * real / capacity, 2),
        "t_eff": round(t_eff, 1),
        "peak_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)
        if device == "cuda"
        else None,
        "padded_baseline_tokens_per_s": round(base_tps, 1),
        "ratio_packed_vs_padded": round(tps / base_tps, 3),
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dry-run", action="store_true", help="CPU, toy shape, a few steps")
    parser.add_argument("--cases", default="1.5b,8b")
    parser.add_argument("--capacity", type=int, default=16384)
    parser.add_argument("--tokens", type=int, default=400_000)
    parser.add_argument("--min-len", type=int, default=256)
    parser.add_argument("--max-len", type=int, default=4096)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--checkpointing", action="store_true")
    args = parser.parse_args(argv)
    if args.dry_run:
        args.cases, args.capacity, args.tokens = "toy", 256, 2000
        args.min_len, args.max_len, args.warmup, args.steps = 16, 128, 1, 3
        device, dtype = "cpu", torch.float32
    else:
        if not torch.cuda.is_available():
            print("bench_train: no GPU here; use --dry-run on a CPU", file=sys.stderr)
            return 2
        device, dtype = "cuda", torch.bfloat16
    attn = (
        "flash_attention_2"
        if importlib.util.find_spec("flash_attn") and device == "cuda"
        else "sdpa"
    )
    peak = measured_peak_tflops(device, dtype, 8192 if device == "cuda" else 256)
    print(
        json.dumps(
            {
                "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
                "torch": torch.__version__,
                "measured_peak_tflops": round(peak, 1),
            }
        )
    )
    for name in args.cases.split(","):
        print(json.dumps(run_case(name, args, device, dtype, attn, peak)), flush=True)
        if device == "cuda":
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
