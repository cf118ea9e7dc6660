"""`tracelake train`: pick a recipe, fill its options from YAML and --set, run it.

Works single-process or under a launcher (`torchrun --nproc-per-node N -m tracelake.trainer.run
...`, or `deepspeed`), which sets WORLD_SIZE/RANK; ZeRO-2 is then the default.

The `pipeline` recipe runs the methodology's phases in order (by default SFT, then DPO, then
constitutional training; `grpo` may follow as the RL phase on the environment's task levels),
each starting from the previous phase's checkpoint and ending with its own checkpoint, run record
and held-out figures, so what each phase added is visible. Its config names one manifest per
phase that reads an export (`grpo` reads none). `tracelake train --evaluate` and the train DAG
then run the workflow benchmark on every phase's checkpoint.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .constitutional import ConstitutionalOptions, run_constitutional
from .dpo import DPOOptions, run_dpo
from .errors import TrainerInputError
from .grpo import GRPOOptions, run_grpo
from .options import load_options
from .records import RunRecord
from .sft import SFTOptions, run_sft

RECIPES = ("sft", "dpo", "constitutional", "grpo", "pipeline")
PHASES = ("sft", "dpo", "constitutional", "grpo")


@dataclass
class PipelineOptions:
    output_dir: str = "checkpoints/pipeline"
    manifests: dict[str, str] = field(default_factory=dict)  # phase -> manifest URI
    phases: list[str] = field(default_factory=lambda: ["sft", "dpo", "constitutional"])
    sft: SFTOptions = field(default_factory=SFTOptions)
    dpo: DPOOptions = field(default_factory=DPOOptions)
    constitutional: ConstitutionalOptions = field(default_factory=ConstitutionalOptions)
    grpo: GRPOOptions = field(default_factory=GRPOOptions)

    def validate(self, manifest: str | None) -> None:
        """Every phase is known, appears once and has its data, before any training starts."""
        unknown = [p for p in self.phases if p not in PHASES]
        if unknown or not self.phases:
            raise TrainerInputError(
                f"pipeline phases {unknown or '(none)'}: use {', '.join(PHASES)}"
            )
        repeated = sorted({p for p in self.phases if self.phases.count(p) > 1})
        if repeated:
            raise TrainerInputError(
                f"pipeline phase(s) {', '.join(repeated)} appear twice; each phase has one "
                "options block and one checkpoint folder"
            )
        for phase in self.phases:
            if phase != "grpo" and not (self.manifests.get(phase) or manifest):
                raise TrainerInputError(
                    f"pipeline phase {phase}: no manifest; set manifests.{phase} or --manifest"
                )


def run_pipeline(manifest: str | None, options: PipelineOptions) -> list[RunRecord]:
    options.validate(manifest)
    records: list[RunRecord] = []
    previous = ""
    for phase in options.phases:
        phase_options: Any = getattr(options, phase)
        phase_options.output_dir = str(Path(options.output_dir) / phase)
        if previous:
            phase_options.model.path = previous
        if phase == "grpo":
            env, tasks = load_environment()
            records.append(run_grpo(phase_options, env, tasks))
        else:
            runner = {"sft": run_sft, "dpo": run_dpo, "constitutional": run_constitutional}[phase]
            records.append(runner(options.manifests.get(phase) or manifest, phase_options))
        previous = phase_options.output_dir
    return records


def load_environment() -> tuple[Any, Any]:
    """The executable environment of the lake project (GRPO's world)."""
    try:
        from tracelake.jobs.environment import Environment, make_training_tasks
    except ImportError:
        raise TrainerInputError(
            "recipe grpo needs tracelake.jobs.environment, which this installation lacks; "
            "install a tracelake version with the executable environment"
        ) from None
    return Environment, make_training_tasks


def train(
    manifest: str | None, recipe: str, config: str | None = None, overrides: list[str] = ()
) -> list[RunRecord]:
    """Run one recipe; returns the run records written (one per phase for `pipeline`)."""
    if recipe not in RECIPES:
        raise TrainerInputError(f"recipe {recipe!r}: use one of {', '.join(RECIPES)}")
    if recipe == "grpo":
        env, tasks = load_environment()
        return [run_grpo(load_options(GRPOOptions, config, overrides), env, tasks)]
    if recipe == "pipeline":
        return run_pipeline(manifest, load_options(PipelineOptions, config, overrides))
    if not manifest:
        raise TrainerInputError(f"recipe {recipe} needs --manifest (an export's manifest.json)")
    cls, runner = {
        "sft": (SFTOptions, run_sft),
        "dpo": (DPOOptions, run_dpo),
        "constitutional": (ConstitutionalOptions, run_constitutional),
    }[recipe]
    return [runner(manifest, load_options(cls, config, overrides))]


def main(argv: list[str] | None = None) -> int:
    """Launcher entry (torchrun / deepspeed run this module on every rank)."""
    from tracelake.jobs.errors import TracelakeError

    parser = argparse.ArgumentParser(prog="python -m tracelake.trainer.run")
    parser.add_argument("--manifest")
    parser.add_argument("--recipe", required=True, choices=RECIPES)
    parser.add_argument("--config")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)
    try:
        records = train(args.manifest, args.recipe, args.config, args.overrides)
    except TracelakeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    for record in records:
        if record.status != "running":  # other ranks than 0 save nothing and report nothing
            print(f"{record.recipe}: {record.status} -> {record.checkpoint_uri}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
