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

A case is SHAPE:ATTENTION[:compile]. ATTENTION `packed` is the trainer's variable-length
attention (trainer/attention.py: torch's varlen flash kernel on CUDA), `sdpa` is transformers'
SDPA with the block-diagonal mask it derives from the position resets (dense T x T work), and
`flash_attention_2` needs the flash-attn package. The packed case also prints how far a packed
row's logits are from each document run alone under SDPA (bf16 rounding, not leakage).
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import importlib.util
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]


def importable_trainer(schemas: bool = False, environment: bool = False) -> None:
    """Make `tracelake.trainer` importable where the project is not installed (a bare GPU
    machine with torch, transformers and peft but no pydantic): a package folder that links
    the trainer and the two leaf modules it imports, and nothing else of the project.
    `schemas`: the whole schemas package and the export's shard writer (the fixture export;
    needs pydantic, orjson and zstandard); `environment`: also the executable environment GRPO
    plays in."""
    if importlib.util.find_spec("tracelake") is not None:
        return
    links = {
        "trainer": REPO / "trainer",
        "jobs/errors.py": REPO / "jobs" / "errors.py",
        "schemas/tool_calls.py": REPO / "schemas" / "tool_calls.py",
    }
    if schemas or environment:
        del links["schemas/tool_calls.py"]
        links["schemas"] = REPO / "schemas"
        links["jobs/export/shards.py"] = REPO / "jobs" / "export" / "shards.py"
    if environment:
        links["jobs/environment"] = REPO / "jobs" / "environment"
        links["jobs/simulate/catalog.py"] = REPO / "jobs" / "simulate" / "catalog.py"
    root = Path(tempfile.mkdtemp(prefix="bench-train-")) / "tracelake"
    # Every folder above a link is an empty package, unless a link is that package itself.
    packages = {Path(*Path(name).parts[:i]) for name in links for i in range(len(Path(name).parts))}
    for package in sorted(packages - {Path(name) for name in links}):
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").touch()
    for name, target in links.items():
        (root / name).symlink_to(target)
    sys.path.insert(0, str(root.parent))


SHAPES = {
    # Qwen2-1.5B-like
    "1.5b": dict(shape="qwen2", hidden=1536, layers=28, heads=12, kv=2, ffn=8960, vocab=151936),
    # Llama-3-8B-like
    # Llama-3-8B-like, trained as the hybrid (LoRA below, the last 2 blocks and the head in full).
    # 8K-token rows: 16K-token rows need gradient checkpointing on one 141 GB card (-26% tokens/s).
    "8b": dict(
        shape="llama",
        hidden=4096,
        layers=32,
        heads=32,
        kv=8,
        ffn=14336,
        vocab=128256,
        full_last=2,
        capacity=8192,
    ),
    "toy": dict(shape="llama", hidden=64, layers=2, heads=4, kv=2, ffn=128, vocab=512),
    "toy-hybrid": dict(
        shape="qwen2", hidden=64, layers=3, heads=4, kv=2, ffn=128, vocab=512, full_last=1
    ),
}
PEAK_TFLOPS = 989.0
# torch.compile (`:compile`) is opt-in: compiling the 1.5B model took over 3 minutes on the H200.
GPU_CASES = "1.5b:packed,8b:packed,1.5b:sdpa"
DRY_RUN_CASES = "toy:packed,toy:sdpa,toy-hybrid:packed"


def build(spec: dict, dtype: torch.dtype, device: str, attn: str):
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    if attn == "packed":
        from tracelake.trainer.attention import register

        attn = register()
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


def set_attention(model, name: str) -> None:
    """Switch the attention implementation in place (the padded baseline runs on SDPA).

    Every module holding a config is set: a PEFT wrapper does not forward the assignment."""
    for module in model.modules():
        config = getattr(module, "config", None)
        if config is not None and hasattr(config, "_attn_implementation"):
            config._attn_implementation = name


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


def packed_inputs(row, device: str, attn: str) -> tuple[dict, torch.Tensor]:
    inputs = {
        "input_ids": row.input_ids.to(device),
        "position_ids": row.position_ids.to(device),
        "attention_mask": None,
        "use_cache": False,
    }
    if attn == "packed":
        from tracelake.trainer.attention import cu_seqlens

        cu, longest = cu_seqlens(row.lengths, device)
        inputs |= {"cu_seq_lens_q": cu, "cu_seq_lens_k": cu}
        inputs |= {"max_length_q": longest, "max_length_k": longest}
    return inputs, row.labels.to(device)


def packed_vs_alone(model, row, device: str, attn: str, docs: int = 3) -> float:
    """Max |logit difference| of the first documents of a packed row against each one alone
    under SDPA, relative to the largest logit (bf16 rounding is ~1e-2 of it; leakage is ~1)."""
    inputs, _ = packed_inputs(row, device, attn)
    with torch.no_grad():
        packed = model(**inputs).logits[0].float()
        set_attention(model, "sdpa")
        worst, scale, offset = 0.0, 0.0, 0
        for length in row.lengths[:docs]:
            ids = row.input_ids[:, offset : offset + length].to(device)
            alone = model(input_ids=ids, use_cache=False).logits[0].float()
            part = packed[offset : offset + length]
            worst = max(worst, (part - alone).abs().max().item())
            scale = max(scale, alone.abs().max().item())
            offset += length
    set_attention(model, model._bench_attention)
    return worst / scale if scale else 0.0


def run_case(case: str, args, device: str, dtype: torch.dtype, peak: float) -> dict:
    name, attn, *flags = case.split(":")
    spec = SHAPES[name]
    model = build(spec, dtype, device, attn)
    model._bench_attention = model.config._attn_implementation
    matmul_params = sum(
        p.numel() for n, p in model.named_parameters() if p.dim() == 2 and "embed" not in n
    )
    training = "full"
    if "full_last" in spec:
        if importlib.util.find_spec("peft") is None:
            return {"case": case, "skipped": "peft is not installed on this machine"}
        k = spec["full_last"]
        model = hybrid(model, full_last=k)
        model._bench_attention = model.config._attn_implementation
        training = f"hybrid: LoRA r16 on blocks [0, L-{k}), full last {k} blocks and LM head"
    model.train()
    checkpointing = args.checkpointing or "ckpt" in flags
    if checkpointing and hasattr(model, "gradient_checkpointing_enable"):
        model.gradient_checkpointing_enable()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-5, fused=device == "cuda")
    capacity = spec.get("capacity", args.capacity) if args.capacity_default else args.capacity
    docs = documents(args.tokens, args.min_len, args.max_len, spec["vocab"])
    rows = packed_rows(docs, capacity)
    forward = torch.compile(model, dynamic=True) if "compile" in flags else model

    def step(inputs: dict, labels: torch.Tensor) -> None:
        out = forward(**inputs)
        loss = torch.nn.functional.cross_entropy(
            out.logits.float().flatten(0, 1), labels.flatten(), ignore_index=-100
        )
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    leak = packed_vs_alone(model, rows[0], device, attn) if attn == "packed" else None
    t_warm = time.perf_counter()
    for row in rows[: args.warmup]:
        step(*packed_inputs(row, device, attn))
    sync(device)
    warmup_s = time.perf_counter() - t_warm
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    timed = rows[args.warmup : args.warmup + args.steps] or rows[:1]
    t0 = time.perf_counter()
    for row in timed:
        step(*packed_inputs(row, device, attn))
    sync(device)
    seconds = time.perf_counter() - t0
    peak_mem = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
    real = sum(r.real_tokens for r in timed)
    lens = [n for r in timed for n in r.lengths]
    t_eff = sum(n * n for n in lens) / sum(lens)
    tps = real / seconds
    flops_per_token = 6 * matmul_params + 12 * spec["layers"] * spec["hidden"] * t_eff
    row_capacity = sum(r.capacity for r in timed)
    computed = sum(r.input_ids.numel() for r in timed)

    # Baseline: the same documents as padded batches of the same token capacity, on SDPA
    # with a padding mask (what an unpacked collator does), same model and optimizer.
    set_attention(model, "sdpa")
    per_batch = max(1, capacity // args.max_len)
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
    return {
        "case": case,
        "attention": model._bench_attention,
        "training": training,
        "gradient_checkpointing": checkpointing,
        "real_tokens_per_s": round(tps, 1),
        "mfu_vs_989": round(tps * flops_per_token / (PEAK_TFLOPS * 1e12), 4),
        "mfu_vs_measured": round(tps * flops_per_token / (peak * 1e12), 4) if peak else None,
        "padding_pct": round(100 * (1 - real / computed), 3),
        "row_fill_pct": round(100 * real / row_capacity, 2),
        "t_eff": round(t_eff, 1),
        "matmul_params": matmul_params,
        "tokens_per_row": capacity,
        "timed_steps": len(timed),
        "warmup_s": round(warmup_s, 1),
        "peak_mem_gib": round(peak_mem, 2) if peak_mem is not None else None,
        "packed_vs_alone_rel": None if leak is None else round(leak, 5),
        "padded_baseline_tokens_per_s": round(base_tps, 1),
        "ratio_packed_vs_padded": round(tps / base_tps, 3),
    }


def run_with_fallback(case: str, args, device: str, dtype: torch.dtype, peak: float) -> dict:
    """One case; out of memory, it is tried once more with gradient checkpointing."""
    try:
        return run_case(case, args, device, dtype, peak)
    except torch.OutOfMemoryError:
        if "ckpt" in case or args.checkpointing:
            return {"case": case, "error": "out of memory even with gradient checkpointing"}
    free(device)
    try:
        return run_case(case + ":ckpt", args, device, dtype, peak)
    except torch.OutOfMemoryError:
        return {"case": case + ":ckpt", "error": "out of memory"}


def free(device: str) -> None:
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dry-run", action="store_true", help="CPU, toy shape, a few steps")
    parser.add_argument(
        "--cases",
        default=None,
        help="comma-separated SHAPE:ATTENTION[:compile][:ckpt] (default: "
        f"{GPU_CASES} on a GPU, {DRY_RUN_CASES} with --dry-run)",
    )
    parser.add_argument(
        "--capacity", type=int, default=None, help="tokens per packed row (default 16384; 8B 8192)"
    )
    parser.add_argument("--tokens", type=int, default=400_000)
    parser.add_argument("--min-len", type=int, default=256)
    parser.add_argument("--max-len", type=int, default=4096)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--checkpointing", action="store_true")
    parser.add_argument(
        "--budget-s", type=float, default=420, help="start no new case after this many seconds"
    )
    args = parser.parse_args(argv)
    importable_trainer()
    args.capacity_default = args.capacity is None
    args.capacity = args.capacity or 16384
    started = time.perf_counter()
    if args.dry_run:
        args.cases = args.cases or DRY_RUN_CASES
        args.capacity, args.tokens = 256, 2000
        args.min_len, args.max_len, args.warmup, args.steps = 16, 128, 1, 3
        device, dtype = "cpu", torch.float32
    else:
        if not torch.cuda.is_available():
            print("bench_train: no GPU here; use --dry-run on a CPU", file=sys.stderr)
            return 2
        device, dtype = "cuda", torch.bfloat16
        args.cases = args.cases or GPU_CASES
    from tracelake.trainer.attention import varlen_available

    peak = measured_peak_tflops(device, dtype, 8192 if device == "cuda" else 256)
    print(
        json.dumps(
            {
                "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
                "torch": torch.__version__,
                "transformers": importlib.metadata.version("transformers"),
                "varlen_flash": varlen_available(device),
                "flash_attn_installed": importlib.util.find_spec("flash_attn") is not None,
                "measured_peak_tflops": round(peak, 1),
            }
        ),
        flush=True,
    )
    for case in args.cases.split(","):
        elapsed = time.perf_counter() - started
        if elapsed > args.budget_s:
            print(json.dumps({"case": case, "skipped": f"time budget spent ({elapsed:.0f} s)"}))
            continue
        t_case = time.perf_counter()
        try:
            result = run_with_fallback(case, args, device, dtype, peak)
        except Exception as exc:  # one broken case must not cost the others' figures
            result = {"case": case, "error": f"{type(exc).__name__}: {exc}"[:500]}
        result["case_s"] = round(time.perf_counter() - t_case, 1)
        print(json.dumps(result), flush=True)
        free(device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
