"""What every recipe sets up the same way: the export, tokenizer, model, distribution, optimizer.

Distributed runs (torchrun / deepspeed launchers set WORLD_SIZE) use DeepSpeed ZeRO-2 by default
(`zero_stage`), over NCCL on GPUs and gloo on CPUs. A single process trains with plain AdamW.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist

from tracelake.schemas.manifest import Manifest

from .attention import varlen_available
from .data import check_columns, load_manifest, read_split
from .errors import TrainerInputError
from .model import HybridOptions, apply_hybrid, build_model, load_model, tiny_config
from .records import Throughput
from .template import PromptFormat, load_prompt_format, set_prompt_format
from .tokenizer import load_tokenizer, new_token_ids, train_bpe


@dataclass
class ModelOptions:
    """`path`: a local Hugging Face model directory; empty: a tiny model from a config."""

    path: str = ""
    tiny_shape: str = "llama"  # llama | qwen2
    tiny_layers: int = 2
    tiny_hidden: int = 64
    tiny_vocab: int = 512
    hybrid: HybridOptions = field(default_factory=HybridOptions)
    # auto: the first GPU when there is one, else the CPU.
    device: str = "auto"
    # auto: bfloat16 on a GPU, float32 on the CPU (where bf16 matmuls are slow and inexact).
    dtype: str = "auto"
    # auto: "packed" (variable-length flash attention, trainer/attention.py) where torch has it
    # for the device, else "sdpa" (a dense block-diagonal mask; exact, wasteful on long rows).
    attention: str = "auto"
    # The tool schemas in every prompt (true) or left out (false: the model learns its
    # components; examples shrink by the schemas). Unset: as the base checkpoint was trained
    # (its prompt_format.json), else true. Saved with the checkpoint (trainer/template.py).
    tools_in_prompt: bool | None = None

    def __post_init__(self) -> None:
        if self.tools_in_prompt is not None and not isinstance(self.tools_in_prompt, bool):
            raise TrainerInputError(
                f"model.tools_in_prompt={self.tools_in_prompt!r}: use true or false"
            )
        for name, allowed in (
            ("device", ("auto", "cpu", "cuda")),
            ("dtype", ("auto", "float32", "bfloat16")),
            ("attention", ("auto", "sdpa", "packed")),
        ):
            if getattr(self, name) not in allowed:
                raise TrainerInputError(
                    f"model.{name}={getattr(self, name)!r}: choose one of {', '.join(allowed)}"
                )
        if self.device == "cuda" and not torch.cuda.is_available():
            raise TrainerInputError("model.device=cuda, but torch sees no GPU here")

    def resolved(self) -> tuple[torch.device, torch.dtype, str]:
        """(device, dtype, attention implementation) with every `auto` decided."""
        cuda = self.device == "cuda" or (self.device == "auto" and torch.cuda.is_available())
        device = torch.device("cuda" if cuda else "cpu")
        bf16 = self.dtype == "bfloat16" or (self.dtype == "auto" and cuda)
        dtype = torch.bfloat16 if bf16 else torch.float32
        attention = self.attention
        if attention == "auto":
            attention = "packed" if varlen_available(device) else "sdpa"
        return device, dtype, attention

    def prompt_format(self) -> PromptFormat:
        if self.tools_in_prompt is not None:
            return PromptFormat(tools_in_prompt=self.tools_in_prompt)
        return load_prompt_format(self.path) if self.path else PromptFormat()


@dataclass
class Dist:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed() -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size())


def all_sum(value: float, d: Dist) -> float:
    if d.world == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item())


def open_export(uri: str, recipe: str) -> tuple[Manifest, dict[str, list[dict[str, Any]]]]:
    """Verify every shard, check the recipe's columns, then read train and validation rows."""
    manifest = load_manifest(uri)
    check_columns(manifest, recipe, uri)
    splits = {s: read_split(uri, manifest, s) for s in ("train", "validation")}
    if not splits["train"]:
        raise TrainerInputError(f"{uri}: the export has no train rows; export a non-empty dataset")
    return manifest, splits


def prepare_tokenizer(options: ModelOptions, corpus: list[str], d: Dist | None = None) -> Any:
    """The base model's tokenizer or a BPE trained on `corpus`, carrying the prompt format."""
    if options.path:
        tokenizer = load_tokenizer(options.path)
    elif d is None or d.world == 1:
        tokenizer = train_bpe(corpus, vocab_size=options.tiny_vocab)
    else:
        # Every rank must hold the same vocabulary: rank 0 trains it and the others receive it.
        payload = [train_bpe(corpus, vocab_size=options.tiny_vocab) if d.main else None]
        dist.broadcast_object_list(payload, src=0)
        tokenizer = payload[0]
    set_prompt_format(tokenizer, options.prompt_format())
    return tokenizer


def prepare_model(options: ModelOptions, tokenizer: Any, seed: int) -> tuple[Any, list[dict]]:
    device, dtype, attention = options.resolved()
    if options.path:
        model = load_model(options.path, dtype=dtype, attention=attention)
        base_vocab = model.get_input_embeddings().weight.shape[0]
        added = new_token_ids(tokenizer, base_vocab)
        if added:
            model.resize_token_embeddings(len(tokenizer))
    else:
        config = tiny_config(
            len(tokenizer), options.tiny_shape, options.tiny_layers, options.tiny_hidden
        )
        model = build_model(config, seed, attention=attention, dtype=dtype)
        added = []
    return apply_hybrid(model.to(device), options.hybrid, added)


def model_device(model: Any) -> torch.device:
    return next(model.parameters()).device


class StepRunner:
    """One optimizer step over several micro-batches, plain AdamW or a DeepSpeed engine."""

    def __init__(self, model: Any, groups: list[dict], d: Dist, zero_stage: int, accum: int):
        self.d = d
        self.engine = None
        self.throughput = Throughput()
        if d.world > 1 and zero_stage > 0:
            import deepspeed
            import deepspeed.ops

            if not torch.cuda.is_available():
                # On CPUs DeepSpeed would JIT-compile its shared-memory collective op (a C++
                # build at start-up, with a file lock shared by all ranks); gloo needs none.
                deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False

            config = {
                "train_micro_batch_size_per_gpu": 1,
                "gradient_accumulation_steps": accum,
                "zero_optimization": {"stage": zero_stage},
                "gradient_clipping": 1.0,
            }
            if zero_stage == 3:
                config["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] = True
            optimizer = torch.optim.AdamW(groups, weight_decay=0.0)
            self.engine, self.optimizer, _, _ = deepspeed.initialize(
                model=model, optimizer=optimizer, config=config
            )
            self.model = self.engine.module
        else:
            self.model = model
            self.optimizer = torch.optim.AdamW(groups, weight_decay=0.0)
            if d.world > 1:
                self.model = torch.nn.parallel.DistributedDataParallel(model)

    def backward(self, loss: torch.Tensor) -> None:
        # The loss is already normalised over the whole step (and scaled by world size for the
        # ranks' gradient averaging); DeepSpeed must not divide it by the accumulation again.
        if self.engine is not None:
            self.engine.backward(loss, scale_wrt_gas=False)
            self.engine.step()
        else:
            loss.backward()

    def step(self) -> None:
        if self.engine is None:
            params = [p for g in self.optimizer.param_groups for p in g["params"]]
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)

    def forward(self, **inputs: Any) -> Any:
        return (self.engine or self.model)(**inputs)

    @property
    def device(self) -> torch.device:
        return model_device(self.model)

    def timed(self) -> _Timer:
        return _Timer(self.throughput)


class _Timer:
    def __init__(self, throughput: Throughput) -> None:
        self.throughput = throughput

    def __enter__(self) -> _Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.throughput.seconds += time.perf_counter() - self.start


def gathered_model(runner: StepRunner, options: Any, tokenizer: Any, d: Dist) -> Any:
    """The trained model in full on rank 0 (None elsewhere). Under ZeRO-3 every rank joins the
    gather of the 16-bit consolidated state; rank 0 loads it, strictly, into a fresh copy of the
    same (hybrid-wrapped) architecture, so a lost adapter or full module fails loudly here."""
    engine = runner.engine
    if engine is None or engine.zero_optimization_stage() != 3:
        return runner.model if d.main else None
    state = engine._zero3_consolidated_16bit_state_dict()
    if not d.main:
        return None
    fresh, _ = prepare_model(options.model, tokenizer, options.seed)
    missing, unexpected = fresh.load_state_dict(state, strict=False)
    lost = [k for k in missing if "lora_" in k or "modules_to_save" in k]
    if lost or unexpected:
        raise TrainerInputError(
            f"ZeRO-3 gathered state lacks {len(lost)} trained tensors ({lost[:2]}) or has "
            f"{len(unexpected)} unknown ones; the checkpoint would be wrong"
        )
    return fresh
