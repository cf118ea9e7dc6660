"""Environment overhead of the workflow benchmark: oracle episodes/s through the full episode
loop (wire format rendered and parsed, scenarios, metrics records) against, on the same held-out
tasks, the bare environment replaying the expert plans (no loop), and the trace simulator's
runs/s as the peer the issue names. Prints figures and ratios; asserts nothing about time.

    python tests/benchmarks/bench_eval.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tracelake.jobs.environment import Environment, load_tasks
from tracelake.jobs.evaluation.policies import Oracle
from tracelake.jobs.evaluation.runner import EvalOptions, evaluate
from tracelake.jobs.simulate.runs import generate_runs


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    tasks = load_tasks()
    n = len(tasks)

    def bare() -> None:
        for task in tasks:
            env = Environment(task, 0)
            for step in task.expert_plan:
                env.call(step["name"], step["arguments"])
            env.finish("done")

    def loop() -> None:
        evaluate(Oracle(), EvalOptions(memory_sequence=0))

    def simulator() -> None:
        for _ in generate_runs(1, n):
            pass

    t_bare, t_loop, t_sim = (best(f, args.repeat) for f in (bare, loop, simulator))
    print(f"tasks: {n} held-out (L1-L3), best of {args.repeat}")
    print(f"bare environment (expert plans):   {n / t_bare:9.0f} episodes/s")
    print(f"evaluation loop (oracle, scenarios): {n / t_loop:7.0f} episodes/s")
    print(f"trace simulator:                   {n / t_sim:9.0f} runs/s")
    print(f"ratio loop / bare environment: {t_bare / t_loop:.2f}")
    print(f"ratio oracle episodes / simulator runs: {t_sim / t_loop:.2f}")


if __name__ == "__main__":
    main()
