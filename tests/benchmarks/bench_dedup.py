"""Near-duplicate detection: our curation stage against datasketch's MinHashLSH and datatrove's
MinHash pipeline, on the same documents with planted duplicates.

    .venv/bin/python tests/benchmarks/bench_dedup.py [--docs 100000] [--near 0.1] [--exact 0.05]
        [--workers 2] [--skip datatrove,datasketch] [--seeds 1,2,3] [--batches 0]

`--batches N` (N > 0) instead times our stage over N batches of `--docs` documents each, every
batch checked against the index of all earlier ones (read back as gold.dedup_index holds it):
the time per batch should stay flat (batch N <= 1.2x batch 1).

Documents are trajectory texts of simulated runs (goal, calls, observations) with 40% of their
words replaced by random vocabulary words, so base documents are distinct; then `--near` of them
get a near copy (3% of words replaced: Jaccard ~0.75) and `--exact` an exact copy. All sides use
5-word shingles and 14 bands x 8 rows. Each side runs in its own process (peak RSS is its own,
with its worker processes): ours is `jobs/curate/dedup.curate_batch` (cleaning, exact hash,
one-permutation MinHash, LSH, exact-Jaccard check >= 0.6 within the batch) in one process (the
exact hashes in a thread); datasketch queries then inserts each document (one process);
datatrove runs its four stages (signatures, buckets, clusters, filter with an exclusion writer)
with `LocalPipelineExecutor` and `--workers` workers on JSONL files.

Recall: planted pairs whose copy was removed (or whose original was, the copy kept). Precision:
of the removed documents, the share whose best match among the original documents is a planted
pair or has an exact shingle Jaccard >= 0.6 (a true near duplicate: the stage's threshold).
Prints docs/s, peak RSS, precision, recall and our docs/s over each other side's, and the recall
a 14 x 8 LSH has in expectation on the planted pairs with our shingles and with datatrove's. A
side's recall scatters around that expectation by the luck of its hash functions (about
+-0.005 at 100k documents); `--seeds 1,2,3` runs every side on three corpora and prints the
means, which averages the luck out.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import shutil
import statistics
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path

VOCAB_SIZE = 20_000


def _vocab(rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choices(letters, k=rng.randint(4, 9))) for _ in range(VOCAB_SIZE)]


def corpus(docs: int, near: float, exact: float, seed: int) -> tuple[list[str], dict[int, int]]:
    """Texts and planted pairs (copy index -> original index)."""
    from tracelake.jobs.curate.text import trajectory
    from tracelake.jobs.gold.assemble import RunFacts, assemble
    from tracelake.jobs.simulate.runs import generate_runs

    rng = random.Random(seed)
    vocab = _vocab(rng)
    templates = []
    for run in generate_runs(seed, 500):
        example = assemble(run, RunFacts()).example
        if example is not None:
            templates.append(trajectory(example).text.split())
    n_base = int(docs / (1 + near + exact))
    texts = []
    for _ in range(n_base):
        words = list(rng.choice(templates))
        for i in range(len(words)):
            if rng.random() < 0.4:
                words[i] = rng.choice(vocab)
        texts.append(" ".join(words))
    planted: dict[int, int] = {}
    for origin in rng.sample(range(n_base), int(n_base * near)):
        words = texts[origin].split()
        for i in range(len(words)):
            if rng.random() < 0.03:
                words[i] = rng.choice(vocab)
        planted[len(texts)] = origin
        texts.append(" ".join(words))
    for origin in rng.sample(range(n_base), int(n_base * exact)):
        planted[len(texts)] = origin
        texts.append(texts[origin])
    order = list(range(len(texts)))
    rng.shuffle(order)  # copies are not all after their originals
    where = {old: new for new, old in enumerate(order)}
    shuffled = [texts[i] for i in order]
    return shuffled, {where[c]: where[o] for c, o in planted.items()}


# -- the three sides, each returning the indices of removed documents ---------------------------


def ours(texts: list[str], workers: int) -> set[int]:
    from tracelake.jobs.curate.dedup import CurateConfig, History, curate_batch

    rows = [
        {
            "example_id": f"{i:09d}",
            "goal": "",
            "steps": 2,
            "messages": [{"role": "tool", "content": t}],
        }
        for i, t in enumerate(texts)
    ]
    import numpy as np

    config = CurateConfig()
    history = History(
        signatures=np.zeros((0, config.minhash.num_hashes), dtype=np.uint32),
        band_keys=np.zeros((0, config.minhash.bands), dtype=np.uint64),
    )
    result = curate_batch(rows, history, config, None)
    return {int(v.example_id) for v in result.verdicts if v.verdict != "kept"}


def _shingles(text: str) -> list[bytes]:
    words = text.split()
    return [" ".join(words[i : i + 5]).encode() for i in range(max(len(words) - 4, 1))]


def datasketch_side(texts: list[str], workers: int) -> set[int]:
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(num_perm=112, params=(14, 8))
    removed = set()
    for i, text in enumerate(texts):
        m = MinHash(num_perm=112, seed=1)
        m.update_batch(_shingles(text))
        if lsh.query(m):
            removed.add(i)
        else:
            lsh.insert(str(i), m)
    return removed


def datatrove_side(texts: list[str], workers: int) -> set[int]:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import HashConfig
    from datatrove.utils.word_tokenizers import WordTokenizer

    class SplitTokenizer(WordTokenizer):
        """Words split on whitespace, like the other sides (datatrove's default needs spaCy)."""

        def word_tokenize(self, text: str) -> list[str]:
            return text.split()

        def sent_tokenize(self, text: str) -> list[str]:
            return [text]

        def span_tokenize(self, text: str) -> list[tuple[int, int]]:
            return [(0, len(text))]

    tokenizer = SplitTokenizer()

    root = Path(tempfile.mkdtemp(prefix="bench-datatrove-"))
    try:
        data = root / "input"
        data.mkdir()
        per_file = -(-len(texts) // workers)
        for w in range(workers):
            with open(data / f"part-{w}.jsonl", "w") as out:
                for i in range(w * per_file, min(len(texts), (w + 1) * per_file)):
                    out.write(json.dumps({"id": str(i), "text": texts[i]}) + "\n")
        # sha1: datatrove's default xxhash call passes text, which the installed xxhash refuses.
        config = MinhashConfig(
            n_grams=5, num_buckets=14, hashes_per_bucket=8, hash_config=HashConfig(hash_fc="sha1")
        )
        logs = str(root / "logs")
        stage1 = LocalPipelineExecutor(
            pipeline=[
                JsonlReader(str(data)),
                MinhashDedupSignature(
                    output_folder=str(root / "sigs"), config=config, language=tokenizer
                ),
            ],
            tasks=workers, workers=workers, logging_dir=f"{logs}/1",
        )  # fmt: skip
        stage2 = LocalPipelineExecutor(
            pipeline=[
                MinhashDedupBuckets(
                    input_folder=str(root / "sigs"), output_folder=str(root / "buckets"),
                    config=config,
                )
            ],
            tasks=config.num_buckets, workers=workers, logging_dir=f"{logs}/2", depends=stage1,
        )  # fmt: skip
        stage3 = LocalPipelineExecutor(
            pipeline=[
                MinhashDedupCluster(
                    input_folder=str(root / "buckets"), output_folder=str(root / "remove"),
                    config=config,
                )
            ],
            tasks=1, logging_dir=f"{logs}/3", depends=stage2,
        )  # fmt: skip
        stage4 = LocalPipelineExecutor(
            pipeline=[
                JsonlReader(str(data)),
                MinhashDedupFilter(
                    input_folder=str(root / "remove"),
                    exclusion_writer=JsonlWriter(str(root / "removed")),
                ),
                JsonlWriter(str(root / "kept")),
            ],
            tasks=workers, workers=workers, logging_dir=f"{logs}/4", depends=stage3,
        )  # fmt: skip
        stage4.run()
        removed = set()
        import gzip

        for path in (root / "removed").rglob("*"):
            if path.is_file():
                opener = gzip.open if path.suffix == ".gz" else open
                with opener(path, "rt") as f:
                    for line in f:
                        removed.add(int(json.loads(line)["id"]))
        return removed
    finally:
        shutil.rmtree(root, ignore_errors=True)


SIDES = {"ours": ours, "datasketch": datasketch_side, "datatrove": datatrove_side}


def _run_side(name: str, texts: list[str], workers: int, queue) -> None:  # in a child process
    import logging

    logging.disable(logging.WARNING)
    try:
        from loguru import logger

        logger.remove()
    except ImportError:
        pass
    start = time.perf_counter()
    removed = SIDES[name](texts, workers)
    elapsed = time.perf_counter() - start
    # VmHWM of this process, not ru_maxrss: Linux carries ru_maxrss over fork and exec, so a
    # side would report the benchmark parent's peak. Worker processes (datatrove's) add their
    # own peaks, which RUSAGE_CHILDREN holds (they fork from this small process).
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                rss = max(rss, int(line.split()[1]))
    queue.put((elapsed, rss, sorted(removed)))


def _words(text: str) -> set[str]:
    tokens = re.sub(r"[^\w]+", " ", text.lower()).split()
    return {" ".join(tokens[i : i + 5]) for i in range(max(len(tokens) - 4, 1))}


def lsh_expected_recall(texts: list[str], planted: dict[int, int]) -> dict[str, float]:
    """The recall a 14 x 8 MinHash-LSH has in expectation on the planted pairs, with each side's
    own shingles: the mean of 1 - (1 - J^8)^14 over the pairs' exact shingle Jaccards (1 for an
    exact copy). A side scatters around its figure by the luck of its hash functions; the
    figures differ between sides by their normalisation (which words a text has)."""
    from tracelake.jobs.curate.minhash import MinHashConfig, MinHasher, exact_jaccard

    config = MinHashConfig()
    pairs = sorted(planted.items())
    docs = sorted({d for pair in pairs for d in pair})
    row = {d: k for k, d in enumerate(docs)}
    _, _, sets = MinHasher(config).signatures_and_shingles([texts[d] for d in docs])
    out = {
        "ours": sum(
            config.collision_probability(exact_jaccard(sets.get(row[c]), sets.get(row[o])))
            for c, o in pairs
        )
    }
    try:
        from datatrove.utils.text import simplify_text
    except ImportError:
        return {k: v / len(pairs) for k, v in out.items()} if pairs else out

    def shingles(text: str) -> set[str]:
        words = simplify_text(text).split()
        return {" ".join(words[i : i + 5]) for i in range(max(len(words) - 4, 1))}

    total = 0.0
    for c, o in pairs:
        a, b = shingles(texts[c]), shingles(texts[o])
        total += config.collision_probability(len(a & b) / len(a | b))
    out["datatrove"] = total
    return {k: v / len(pairs) for k, v in out.items()} if pairs else out


def quality(
    texts: list[str], planted: dict[int, int], removed: set[int], sample: int = 1000
) -> tuple[float, float]:
    found = sum(c in removed or o in removed for c, o in planted.items())
    recall = found / len(planted) if planted else 1.0
    # Precision on a sample of removed documents not explained by a planted pair: is there an
    # original document with exact Jaccard >= 0.6? (the planted ones are true by construction)
    pair_of = {**planted, **{o: c for c, o in planted.items()}}
    unexplained = [r for r in sorted(removed) if r not in pair_of]
    rng = random.Random(0)
    checked = rng.sample(unexplained, min(sample, len(unexplained)))
    true = 0
    if checked:
        shingles = [_words(t) for t in texts]
        index: dict[str, list[int]] = {}
        for i, s in enumerate(shingles):
            for g in s:
                index.setdefault(g, []).append(i)
        for r in checked:
            counts: dict[int, int] = {}
            for g in shingles[r]:
                for j in index[g]:
                    if j != r:
                        counts[j] = counts.get(j, 0) + 1
            best = max((n / len(shingles[r] | shingles[j]) for j, n in counts.items()), default=0.0)
            true += best >= 0.6
    explained = len(removed) - len(unexplained)
    precision = (
        (explained + true * len(unexplained) / len(checked)) / len(removed)
        if removed and checked
        else (1.0 if removed else 0.0)
    )
    return precision, recall


def incremental(batches: int, docs: int, seed: int) -> None:
    """Time per batch of our stage against a growing index (the job's O(new) claim)."""
    import pyarrow as pa

    from tracelake.jobs.curate.dedup import CurateConfig, curate_batch
    from tracelake.jobs.curate.examples import history_of, index_rows, index_scheme

    texts, _ = corpus(docs * batches, 0.1, 0.05, seed)
    config = CurateConfig()
    scheme = index_scheme(config)
    index = index_rows([], 0, scheme)
    times = []
    for b in range(batches):
        rows = [
            {
                "example_id": f"{i:09d}",
                "goal": "",
                "steps": 2,
                "messages": [{"role": "tool", "content": t}],
            }
            for i, t in enumerate(texts[b * docs : (b + 1) * docs], start=b * docs)
        ]
        start = time.perf_counter()
        history = history_of(index, set(), config)  # the job reads the kept rows of the index
        result = curate_batch(rows, history, config, None)
        index = pa.concat_tables([index, index_rows(result.verdicts, b + 1, scheme)])
        times.append(time.perf_counter() - start)
        dropped = sum(v.verdict != "kept" for v in result.verdicts)
        print(
            f"batch {b + 1:2d}: {times[-1]:6.2f} s, index {index.num_rows} rows, dropped {dropped}"
        )
    print(f"batch {batches} / batch 1: {times[-1] / times[0]:.2f}x (goal <= 1.2x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--near", type=float, default=0.1)
    parser.add_argument("--exact", type=float, default=0.05)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip", default="", help="comma-separated sides to skip")
    parser.add_argument(
        "--seeds", default="1", help="corpus seeds, comma-separated: each a corpus, all sides"
    )
    parser.add_argument("--batches", type=int, default=0)
    args = parser.parse_args()
    if args.batches:
        incremental(args.batches, args.docs, int(args.seeds.split(",")[0]))
        return

    skip = {s for s in args.skip.split(",") if s}
    runs: dict[str, list[tuple[float, float]]] = {}  # side -> (docs/s, recall) per corpus seed
    for seed in [int(s) for s in args.seeds.split(",")]:
        for name, figures in one_corpus(args, seed, skip).items():
            runs.setdefault(name, []).append(figures)
    if len(next(iter(runs.values()), [])) > 1:
        print("\nmean over the corpus seeds")
        for name, figures in runs.items():
            rate = statistics.mean(f[0] for f in figures)
            recall = statistics.mean(f[1] for f in figures)
            print(f"{name:>10}: {rate:8.0f} docs/s, recall {recall:.3f}")
    if "ours" in runs:
        ours_rate = statistics.mean(f[0] for f in runs["ours"])
        ours_recall = statistics.mean(f[1] for f in runs["ours"])
        for name, figures in runs.items():
            if name != "ours":
                rate = statistics.mean(f[0] for f in figures)
                recall = statistics.mean(f[1] for f in figures)
                print(
                    f"ours / {name}: {ours_rate / rate:.2f}x docs/s, recall "
                    f"{ours_recall:.3f} vs {recall:.3f} ({ours_recall - recall:+.3f})"
                )


def one_corpus(
    args: argparse.Namespace, seed: int, skip: set[str]
) -> dict[str, tuple[float, float]]:
    texts, planted = corpus(args.docs, args.near, args.exact, seed)
    words = sum(len(t.split()) for t in texts)
    print(
        f"corpus seed {seed}: {len(texts)} documents, {words / len(texts):.0f} words each, "
        f"{len(planted)} planted"
    )
    expected = lsh_expected_recall(texts, planted)
    print(
        "expected recall of a 14 x 8 LSH on the planted pairs, with each side's shingles: "
        + ", ".join(f"{k} {v:.3f}" for k, v in expected.items())
    )
    mp = get_context("spawn")
    results = {}
    for name in SIDES:
        if name in skip:
            continue
        queue = mp.Queue()
        proc = mp.Process(target=_run_side, args=(name, texts, args.workers, queue))
        proc.start()
        outcome = None
        while (
            outcome is None
        ):  # a side that dies (not installed, crashed) is reported, not waited on
            try:
                outcome = queue.get(timeout=1.0)
            except Exception:  # queue.Empty
                if not proc.is_alive():
                    break
        proc.join()
        if outcome is None:
            print(f"{name}: failed (exit code {proc.exitcode})")
            continue
        elapsed, rss_kb, removed = outcome
        precision, recall = quality(texts, planted, set(removed))
        results[name] = (len(texts) / elapsed, recall)
        print(
            f"{name:>10}: {elapsed:7.1f} s = {len(texts) / elapsed:8.0f} docs/s, "
            f"peak RSS {rss_kb / 1024:6.0f} MiB, removed {len(removed)}, "
            f"precision {precision:.3f}, recall {recall:.3f}"
        )
    return results


if __name__ == "__main__":
    main()
