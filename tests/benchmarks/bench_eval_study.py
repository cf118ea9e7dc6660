"""CPU study: does a tiny model trained on an export of environment episodes learn more than
lookup? Trains the trainer's SFT recipe on an export built from expert (oracle) episodes of
generated *training* tasks (never held out), with data ablations, then evaluates every
checkpoint on held-out L1-L3 tasks against `replay` and against its untrained initialisation.

Export: one row per episode (messages in the wire format, the episode's tools), phases
orchestration (L1), transfer (L2) and component_evolution (L3: create_component); synthetic
variations are the same tasks with an injected fault the oracle recovers from, whose retry turn
is weighted 2 (recovery weighting), and with `--invented-tasks N` N more tasks whose slot values
are invented (taskgen.invented_pools: values a model must copy, not recall). Variants:
  full                     everything
  no_recovery_weighting    retry turns weighted 1
  no_component_evolution   the component_evolution phase left out of training
  no_synthetic_variations  the fault variants and invented-value tasks left out
Training (`sft`, every variant alike): a tiny Llama trained in full from scratch
(`hybrid.lora: false`: LoRA on random weights freezes the embeddings and all but the last block
at their initialisation), per-document attention on packed rows (`model.attention: packed`),
one packed row per step, L1 episodes sampled 4x (`phase_weights`), the tool schemas left out of
every prompt (`model.tools_in_prompt: false`, saved with the checkpoint: the model is trained to
know its components, and an L1 example is about half its length with them;
`--tools-in-prompt` puts them back). Printed per policy and level: completion and self-correction
(docs/evaluation.md), then over all levels tool-call validity, the share of episodes whose first
call is the expert plan's first component, the wrong-component rate, calls per episode, and each
variant's training loss; nothing is asserted. `--variants full` runs the main comparison alone
(trained vs untrained vs replay).

    python tests/benchmarks/bench_eval_study.py [--steps 450] [--train-tasks 300]
        [--tasks-per-level 8] [--variants full,no_recovery_weighting,...] [--tools-in-prompt]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from trainer_fixture import write_export  # noqa: E402

from tracelake.jobs.environment import Environment, make_training_tasks  # noqa: E402
from tracelake.jobs.environment.taskgen import invented_pools  # noqa: E402
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


def episode_rows(n_tasks: int, seed: int, recovery_weight: float, invented: int = 0) -> list[dict]:
    """Oracle episodes of `n_tasks` catalogue tasks and `invented` tasks with invented slot
    values (synthetic value variations), each plain and with an injected fault."""
    rows = []
    tasks = [(t, "catalogue") for t in make_training_tasks(n_tasks, seed)]
    if invented:
        pools = invented_pools(seed)
        tasks += [(t, "invented") for t in make_training_tasks(invented, seed, pools=pools)]
    for i, (task, values) in enumerate(tasks):
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
                    "synthetic": variant if values == "catalogue" else "invented",
                    "split": "validation" if i % 10 == 9 else "train",
                }
            )
    return rows


def with_retry_weight(rows: list[dict], weight: float) -> list[dict]:
    """The same episodes with every up-weighted (retry) turn weighted `weight` instead."""
    out = []
    for row in rows:
        messages = [
            {**m, "weight": weight} if (m["weight"] or 1.0) > 1.0 else m for m in row["messages"]
        ]
        out.append({**row, "messages": messages})
    return out


def train(manifest: str, out: Path, phases: list[str], args: argparse.Namespace) -> Any:
    """The `sft` recipe from scratch: a tiny model trains every weight (`hybrid.lora: false`;
    LoRA on random weights would freeze the embeddings and all but the last block at their
    initialisation), one packed row per step, per-document attention (`attention: packed`)."""
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
        phase_weights={"orchestration": args.orchestration_weight},
        model=ModelOptions(
            tiny_layers=args.layers,
            tiny_hidden=args.hidden,
            tiny_vocab=args.vocab,
            attention="packed",
            hybrid=HybridOptions(lora=False, lr_full=args.lr),
            tools_in_prompt=args.tools_in_prompt,
        ),
        log_every=max(1, args.steps // 4),
    )
    return run_sft(manifest, options)


def untrained_like(checkpoint: Path, out: Path, layers: int, hidden: int) -> Path:
    """The same tokenizer, prompt format and architecture, random weights: the untrained
    initialisation."""
    from tracelake.trainer.model import build_model, tiny_config
    from tracelake.trainer.template import save_prompt_format
    from tracelake.trainer.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(checkpoint)
    model = build_model(tiny_config(len(tokenizer), layers=layers, hidden=hidden), seed=0)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    save_prompt_format(tokenizer, out)
    return out


def figures(run) -> dict[str, str]:
    out = {}
    for level in ("L1", "L2", "L3"):
        s = run.summary.get(level, {})
        for key, metric in (("C", "completion"), ("SC", "self_correction")):
            value = s.get(metric)
            out[f"{level} {key}"] = "-" if value is None else f"{value:.2f}"
    main = [r for r in run.records if not r["memory"]]
    for key, metric in (("valid", "validity"), ("first", "first_component"),
                        ("wrong", "wrong_component_rate")):  # fmt: skip
        value = run.summary["all"].get(metric)
        out[key] = "-" if value is None else f"{value:.2f}"
    out["calls"] = f"{sum(len(r['calls']) for r in main) / max(1, len(main)):.1f}"
    return out


COLUMNS = ("L1 C", "L1 SC", "L2 C", "L2 SC", "L3 C", "L3 SC", "valid", "first", "wrong", "calls")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=450)
    parser.add_argument("--train-tasks", type=int, default=300)
    parser.add_argument("--tasks-per-level", type=int, default=8)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--vocab", type=int, default=2048)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument(
        "--orchestration-weight", type=float, default=4.0, help="sampling weight of L1 episodes"
    )
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--variants", default=",".join(VARIANTS), help="trained variants to run")
    parser.add_argument(
        "--invented-tasks",
        type=int,
        default=0,
        help="also train on this many tasks with invented slot values (synthetic variations)",
    )
    parser.add_argument(
        "--tools-in-prompt",
        action="store_true",
        help="train and evaluate with the tool schemas in every prompt (about 2x longer examples)",
    )
    args = parser.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown or "full" not in variants:
        parser.error(f"--variants: choose from {', '.join(VARIANTS)} (full is required)")
    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    options = EvalOptions(
        tasks_per_level=args.tasks_per_level, memory_sequence=0, chance_faults=False
    )
    results: dict[str, dict[str, str]] = {}
    trained: dict[str, str] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        t0 = time.perf_counter()
        weighted = episode_rows(args.train_tasks, 7, 2.0, args.invented_tasks)
        flat = with_retry_weight(weighted, 1.0)
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
        for variant in variants:
            manifest = exports.get(variant, exports["full"])
            phases = [p for p in all_phases if variant != "no_component_evolution"
                      or p != "component_evolution"]  # fmt: skip
            t0 = time.perf_counter()
            record = train(manifest, base / variant, phases, args)
            checkpoints[variant] = base / variant
            heldout = (record.eval or {}).get("heldout_loss")
            trained[variant] = (
                f"loss {record.loss_first:.2f}->{record.loss_last:.2f}"
                + (f", held-out {heldout:.2f}" if heldout is not None else "")
                + f", {time.perf_counter() - t0:.0f}s"
            )
            print(f"trained {variant}: {trained[variant]}", flush=True)
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
    print(
        f"\n{args.train_tasks} training tasks, {args.layers} layers x {args.hidden}, BPE "
        f"{args.vocab}, {args.steps} steps at lr {args.lr}, orchestration weight "
        f"{args.orchestration_weight}, tool schemas "
        f"{'in' if args.tools_in_prompt else 'not in'} the prompt; held-out: "
        f"{args.tasks_per_level} tasks per level (injected faults included)"
    )
    print("C = completion, SC = self-correction (recovered / surfaced injected faults; - when")
    print("no fault surfaced), valid = tool-call validity incl. unparseable turns, first = first")
    print("call is the expert's first component, wrong = wrong-component rate, calls/episode")
    print(f"{'policy':<26}" + "".join(f"{c:>7}" for c in COLUMNS))
    for name, row in results.items():
        print(f"{name:<26}" + "".join(f"{row[c]:>7}" for c in COLUMNS))
    for name, line in trained.items():
        print(f"  {name}: {line}")
    print(f"total {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
