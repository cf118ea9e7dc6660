"""Mutated canonical lines through the C scanner and hashers, for `make sanitize`, which runs
this (and the scanner's tests) against builds of jobs/ingest/*.c with AddressSanitizer and
UndefinedBehaviorSanitizer: any out-of-bounds access or undefined behaviour aborts the run.

    python tests/fuzz/stress_native.py [--rounds 60] [--seed 7]

Every result must also be a valid Arrow table (full validation: offsets, UTF-8). Lines that
are not valid UTF-8 are left out, as the fast path's own check leaves such blocks out.
"""

from __future__ import annotations

import argparse
import random

import numpy as np
import orjson

from tracelake.jobs.ingest import fastpath, hashing
from tracelake.jobs.simulate.runs import generate_runs

SPECIAL = b'"\\{}[],:0123456789eE+-.untrfals \t\r\x00\x1f'


def seed_lines(count: int) -> list[bytes]:
    lines: list[bytes] = []
    for run in generate_runs(42, None):
        lines += [orjson.dumps(e) for e in run]
        if len(lines) >= count:
            return lines[:count]
    return lines


def mutated(line: bytes, rng: random.Random) -> bytes:
    b = bytearray(line)
    for _ in range(rng.randint(0, 6)):
        if not b:
            break
        i = rng.randrange(len(b))
        op = rng.random()
        if op < 0.4:
            b[i] = rng.choice(SPECIAL)
        elif op < 0.6:
            del b[i : i + rng.randint(1, 20)]
        elif op < 0.8:
            b[i:i] = bytes(rng.choice(SPECIAL) for _ in range(rng.randint(1, 5)))
        else:
            del b[i:]
    return bytes(b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if fastpath._scan is None or hashing._hashing is None:
        raise SystemExit("the C extensions are not built")
    rng = random.Random(args.seed)
    lines = seed_lines(3000)
    taken = scanned = 0
    for _ in range(args.rounds):
        batch = []
        for line in lines:
            candidate = mutated(line, rng)
            try:
                candidate.decode("utf-8")
            except UnicodeDecodeError:
                continue
            batch.append(candidate)
        table, mine = fastpath._scan_block(fastpath.LineBlock.of_lines(batch))
        table.validate(full=True)
        texts = [table[name].chunk(0) for name in ("event_id", "input", "output")]
        hashing.xxh3_128_hex_rows([*texts, "\x00"], "\x1f", "\x00").validate(full=True)
        hashing.xxh3_64(texts[0])
        taken += int(np.asarray(mine).sum())
        scanned += len(batch)
    print(f"{scanned} mutated lines scanned, {taken} taken, no fault")


if __name__ == "__main__":
    main()
