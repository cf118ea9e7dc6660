"""CPU study: does a tiny model trained on an export of environment episodes learn more than
lookup? Trains the trainer's SFT recipe on an export built from expert (oracle) episodes of
generated *training* tasks (never held out), with data ablations, then evaluates every
checkpoint on held-out L1-L3 tasks against `replay` and against its untrained initialisation.

Export: one row per episode (messages in the wire format, the episode's tools), phases
orchestration (L1), transfer (L2) and component_evolution (L3: create_component); synthetic
variations are the same tasks with an injected fault the oracle recovers from, whose retry turn
is weighted 2 (recovery weighting). Variants:
  full                     everything
  no_recovery_weighting    retry turns weighted 1
  no_component_evolution   the component_evolution phase left out of training
  no_synthetic_variations  the fault variants left out
Printed per variant and level: completion and self-correction (docs/evaluation.md); nothing is
asserted. At toy size (2 layers x 64, BPE 2048, 40 steps) on 2 cores expect zeros for every
trained variant: the figures are the harness, the comparison becomes meaningful with real
shapes (--layers/--hidden/--steps on a GPU).

    python tests/benchmarks/bench_eval_study.py [--steps 40] [--tasks-per-level 4]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from trainer_fixture import write_export  # noqa: E402

from tracelake.jobs.environment import Environment, make_training_tasks  # noqa: E402
from tracelake.jobs.evaluation.job import make_policy  # noqa: E402
from tracelake.jobs.evaluation.policies import Oracle, Replay  # noqa: E402
from tracelake.jobs.evaluation.runner import EvalOptions, evaluate  # noqa: E402
from tracelake.jobs.evaluation.scenarios import fault_for  # noqa: E402
from tracelake.trainer.episodes import run_episode  # noqa: E402

PHASE_OF_LEVEL = {1: "orchestration", 2: "transfer", 3: "component_evolution"}
VARIANTS = ("full", "no_recovery_weighting", "no_component_evolution", "no_synthetic_variations")


def _message(m: dict, weight: float | None) -> dict:
    calls = [
        {
            "id": f"c{i}",
            "type": "function",
            "function": {
                "name": c["function"]["name"],
                "arguments": json.dumps(c["function"]["arguments"], sort_keys=True),
            },
        }
        for i, c in enumerate(m.get("tool_calls") or [])
    ]
    return {
        "role": m["role"],
        "content": m.get("content") or "",
        "reasoning": None,
        "name": m.get("name"),
        "tool_calls": calls or None,
        "weight": weight if m["role"] == "assistant" else None,
    }


def episode_rows(n_tasks: int, seed: int, recovery_weight: float) -> list[dict]:
    rows = []
    for i, task in enumerate(make_training_tasks(n_tasks, seed)):
        for variant in ("plain", "fault"):
            fault = fault_for(task) if variant == "fault" else None
            env = Environment(
                task, i, inject_faults=fault.injections() if fault else None, random_faults=False
            )
            ep = run_episode(Oracle().start(task, i), env, task, task.max_steps + 4)
            if not ep.outcome.success:
                continue
            messages, after_error = [], False
            for m in ep.messages:
                weight = None
                if m["role"] == "assistant":
                    weight = recovery_weight if after_error else 1.0
                after_error = m["role"] == "tool" and str(m["content"]).startswith("error:")
                messages.append(_message(m, weight))
            rows.append(
                {
                    "example_id": f"{task.task_id}-{variant}",
                    "run_id": f"{task.task_id}-{variant}",
                    "seed_run_id": task.task_id,
                    "event_ids": [],
                    "messages": messages,
                    "tools": json.dumps(env.tools),
                    "phase": PHASE_OF_LEVEL[task.level],
                    "level": task.level,
                    "pattern": "recovery" if fault else "sequential",
                    "synthetic": variant,
                    "split": "validation" if i % 10 == 9 else "train",
                }
            )
    return rows


def train(manifest: str, out: Path, phases: list[str], args: argparse.Namespace) -> Path:
    from tracelake.trainer.model import HybridOptions
    from tracelake.trainer.session import ModelOptions
    from tracelake.trainer.sft import SFTOptions, run_sft

    options = SFTOptions(
        output_dir=str(out),
        steps=args.steps,
        micro_batches=1,
        max_length=2048,
        pack_capacity=2048,
        phases=phases,
        model=ModelOptions(
            tiny_layers=args.layers,
            tiny_hidden=args.hidden,
            tiny_vocab=2048,
            hybrid=HybridOptions(lr_lora=5e-3, lr_full=5e-3),
        ),
        log_every=max(1, args.steps // 2),
    )
    run_sft(manifest, options)
    return out


def untrained_like(checkpoint: Path, out: Path, layers: int, hidden: int) -> Path:
    """The same tokenizer and architecture, random weights: the untrained initialisation."""
    from transformers import AutoTokenizer

    from tracelake.trainer.model import build_model, tiny_config

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = build_model(tiny_config(len(tokenizer), layers=layers, hidden=hidden), seed=0)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def figures(run) -> dict[str, str]:
    out = {}
    for level in ("L1", "L2", "L3"):
        s = run.summary.get(level, {})
        c, sc = s.get("completion"), s.get("self_correction")
        out[level] = f"{c if c is None else round(c, 2)}/{sc if sc is None else round(sc, 2)}"
    main = [r for r in run.records if not r["memory"]]
    valid = run.summary["all"].get("validity")
    out["valid"] = "n/a" if valid is None else f"{valid:.2f}"
    out["calls"] = f"{sum(len(r['calls']) for r in main) / max(1, len(main)):.1f}"
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--train-tasks", type=int, default=90)
    parser.add_argument("--tasks-per-level", type=int, default=4)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    options = EvalOptions(
        tasks_per_level=args.tasks_per_level, memory_sequence=0, chance_faults=False
    )
    results: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        t0 = time.perf_counter()
        weighted = episode_rows(args.train_tasks, 7, recovery_weight=2.0)
        flat = episode_rows(args.train_tasks, 7, recovery_weight=1.0)
        exports = {
            "full": write_export(str(base / "ex"), "sft", weighted, build_id="full"),
            "no_recovery_weighting": write_export(str(base / "ex"), "sft", flat, "flat"),
            "no_synthetic_variations": write_export(
                str(base / "ex"), "sft", [r for r in weighted if r["synthetic"] == "plain"], "plain"
            ),
        }
        print(f"export: {len(weighted)} episodes ({time.perf_counter() - t0:.1f}s)", flush=True)
        all_phases = list(PHASE_OF_LEVEL.values())
        checkpoints = {}
        for variant in VARIANTS:
            manifest = exports.get(variant, exports["full"])
            phases = [p for p in all_phases if variant != "no_component_evolution"
                      or p != "component_evolution"]  # fmt: skip
            t0 = time.perf_counter()
            checkpoints[variant] = train(manifest, base / variant, phases, args)
            print(f"trained {variant} in {time.perf_counter() - t0:.1f}s", flush=True)
        checkpoints["untrained_init"] = untrained_like(
            checkpoints["full"], base / "init", args.layers, args.hidden
        )
        for name, path in checkpoints.items():
            t0 = time.perf_counter()
            policy = make_policy(str(path), max_new_tokens=args.max_new_tokens)
            results[name] = figures(evaluate(policy, options))
            print(f"evaluated {name} in {time.perf_counter() - t0:.1f}s", flush=True)
        results["replay"] = figures(evaluate(Replay(), options))
        results["oracle"] = figures(evaluate(Oracle(), options))
    print(f"\nheld-out tasks: {args.tasks_per_level} per level; completion/self-correction per")
    print("level; valid = tool-call validity incl. unparseable turns; calls per episode")
    print(f"{'policy':<26}{'L1':>12}{'L2':>12}{'L3':>12}{'valid':>8}{'calls':>7}")
    for name, row in results.items():
        cells = "".join(f"{row[k]:>12}" for k in ("L1", "L2", "L3"))
        print(f"{name:<26}{cells}{row['valid']:>8}{row['calls']:>7}")


if __name__ == "__main__":
    main()
