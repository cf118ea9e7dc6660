"""The command lines that start training: one process, torchrun (gloo/NCCL), or a GPU operator.

Built here once so the CLI, the train DAG (local: a subprocess) and the cluster operator (a pod's
command) run exactly the same thing.
"""

from __future__ import annotations

import sys


def train_command(
    manifest: str | None,
    recipe: str,
    config: str | None = None,
    overrides: list[str] = (),
    nproc: int = 1,
    python: str | None = None,
) -> list[str]:
    python = python or sys.executable
    if nproc > 1:
        head = [python, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
        head += ["-m", "tracelake.trainer.run"]
    else:
        head = [python, "-m", "tracelake.trainer.run"]
    args = ["--recipe", recipe]
    if manifest:
        args += ["--manifest", manifest]
    if config:
        args += ["--config", config]
    for item in overrides:
        args += ["--set", item]
    return head + args


def output_dir_of(recipe: str, config: str | None, overrides: list[str] = ()) -> str:
    """Where a run of these options writes its checkpoint and run record."""
    from .options import load_options
    from .run import RECIPES, PipelineOptions

    if recipe not in RECIPES:
        return ""
    from .constitutional import ConstitutionalOptions
    from .dpo import DPOOptions
    from .grpo import GRPOOptions
    from .sft import SFTOptions

    cls = {
        "sft": SFTOptions,
        "dpo": DPOOptions,
        "constitutional": ConstitutionalOptions,
        "grpo": GRPOOptions,
        "pipeline": PipelineOptions,
    }[recipe]
    return load_options(cls, config, list(overrides)).output_dir
