"""Curation of one batch of examples against everything kept before it: the pure core of the
`curate_examples` job (no Spark, no lake: rows in, verdicts out).

For each example, in a fixed order (real runs before synthetic ones, successes first, then by
example id, so the first of a group of duplicates is the one kept):
  1. its trajectory is cleaned (jobs/curate/text.py); what cleaning found is counted;
  2. decontamination: a goal equal to an evaluation task's, or an n-gram shared with one ->
     `contaminated` (the task ids in the detail);
  3. exact: its normalised content hash equals a kept example's -> `duplicate_exact`;
  4. near: the filters (`FILTERS`) decide whether MinHash applies; if so, an LSH candidate (a
     kept example sharing a band bucket) whose Jaccard is at least the threshold ->
     `duplicate_near`, joining that example's cluster. Within the batch both texts are at hand,
     so the Jaccard is exact (the shingle sets MinHash made anyway); against the history, which
     holds signatures only, it is the signatures' estimate;
  5. else `kept`: its own cluster, and its hash, signature and band keys join the index.
Then the kept examples' steps are marked (jobs/curate/steps.py): repeats within a run and steps
common across the batch, as flags on the verdict.

A row whose check raises is `curation_error` (dropped: an example nobody could check is not
trusted) and counted; the other rows are judged as usual.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tracelake.schemas.curation import (
    CONTAMINATED,
    CURATION_ERROR,
    DUPLICATE_EXACT,
    DUPLICATE_NEAR,
    KEPT,
)

from .decontaminate import ContaminationIndex
from .minhash import MinHashConfig, MinHasher, ShingleSets, estimated_jaccard, exact_jaccard
from .steps import StepConfig, mark_steps
from .text import Trajectory, content_hashes
from .text import trajectories as trajectories_of

# A filter says whether near-duplicate detection applies to a trajectory, datatrove's way: True,
# or (False, reason). A filtered-out trajectory is still checked for exact duplicates.
FilterResult = bool | tuple[bool, str]


def has_text(t: Trajectory, config: MinHashConfig) -> FilterResult:
    return True if t.text.strip() else (False, "empty_text")


def enough_words(t: Trajectory, config: MinHashConfig) -> FilterResult:
    # Fewer words than one shingle give a one-shingle signature: any edit makes it unrelated and
    # any coincidence makes it identical, so such texts are compared exactly only.
    enough = len(t.text.split(maxsplit=config.ngram)) >= config.ngram
    return True if enough else (False, "too_short")


FILTERS: tuple[Callable[[Trajectory, MinHashConfig], FilterResult], ...] = (has_text, enough_words)


@dataclass(frozen=True)
class CurateConfig:
    minhash: MinHashConfig = field(default_factory=MinHashConfig)
    # The foot of the 14 x 8 S-curve, not its knee (0.72): LSH finds a pair at 0.6 with
    # probability 0.21, so the check rejects what LSH admits by accident (bucket collisions of
    # unrelated templated text) without cutting into the ramp where real near copies sit
    # (docs/curation.md).
    near_threshold: float = 0.6
    max_text_chars: int = 200_000
    steps: StepConfig = field(default_factory=StepConfig)


@dataclass
class History:
    """The kept examples of earlier batches, as the index holds them."""

    example_ids: list[str] = field(default_factory=list)
    cluster_ids: list[str] = field(default_factory=list)
    splits: list[str] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    content_hashes: list[str] = field(default_factory=list)
    signatures: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.uint32))
    band_keys: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.uint64))
    has_signature: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


@dataclass
class Verdict:
    example_id: str
    run_id: str
    split: str
    synthetic: bool
    event_ids: list[str]
    verdict: str
    cluster_id: str | None
    content_hash: str
    signature: np.ndarray | None = None
    band_keys: np.ndarray | None = None
    detail: str | None = None
    flags: list[str] = field(default_factory=list)
    rule: str | None = None  # the specific rule: exact_goal/ngram, exact, near
    task_ids: list[str] = field(default_factory=list)
    # The kept example whose cluster a duplicate joined (its representative).
    representative: str | None = None


@dataclass
class BatchResult:
    verdicts: list[Verdict]
    counts: dict[str, Any]


def order_key(row: Mapping[str, Any]) -> tuple:
    return (bool(row.get("synthetic")), row.get("outcome") != "success", str(row["example_id"]))


class _Buckets:
    """The history's band keys, sorted per band, looked up for a whole batch at once."""

    def __init__(self, keys: np.ndarray, valid: np.ndarray) -> None:
        rows = np.flatnonzero(valid)
        self.sorted: list[tuple[np.ndarray, np.ndarray]] = []
        if len(rows) and keys.ndim == 2:
            for b in range(keys.shape[1]):
                col = keys[rows, b]
                order = np.argsort(col, kind="stable")
                self.sorted.append((col[order], rows[order]))

    def candidates(self, keys: np.ndarray, valid: np.ndarray) -> dict[int, set[int]]:
        """Batch position -> history positions sharing a bucket in any band (vectorised per band:
        one binary search per batch row and band, no Python loop over rows without a match)."""
        found: dict[int, set[int]] = {}
        for b, (col, rows) in enumerate(self.sorted):
            lo = np.searchsorted(col, keys[:, b], side="left")
            hi = np.searchsorted(col, keys[:, b], side="right")
            for i in np.flatnonzero((hi > lo) & valid):
                found.setdefault(int(i), set()).update(int(r) for r in rows[lo[i] : hi[i]])
        return found


class _BatchPeers:
    """Which documents of the batch share a band bucket with an earlier one: sorted per band
    once, so that a document without such a peer (most of them) costs no lookup at all."""

    def __init__(self, keys: np.ndarray, valid: np.ndarray) -> None:
        docs = np.flatnonzero(valid)
        self.has_earlier = np.zeros(len(keys), dtype=bool)
        self.sorted: list[tuple[np.ndarray, np.ndarray]] = []
        for b in range(keys.shape[1] if keys.ndim == 2 else 0):
            col = keys[docs, b]
            order = np.argsort(col, kind="stable")  # within a bucket: ascending positions
            sorted_keys, members = col[order], docs[order]
            first = np.ones(len(col), dtype=bool)
            first[1:] = sorted_keys[1:] != sorted_keys[:-1]
            self.has_earlier[members[~first]] = True
            self.sorted.append((sorted_keys, members))

    def earlier(self, i: int, keys: np.ndarray) -> list[int]:
        """Positions before `i` that share a bucket with it, ascending."""
        found: set[int] = set()
        for b, (col, members) in enumerate(self.sorted):
            lo = int(np.searchsorted(col, keys[b], side="left"))
            hi = int(np.searchsorted(col, keys[b], side="right"))
            found.update(int(k) for k in members[lo:hi] if k < i)
        return sorted(found)


def curate_batch(
    rows: Sequence[Mapping[str, Any]],
    history: History,
    config: CurateConfig,
    contamination: ContaminationIndex | None,
    hasher: MinHasher | None = None,
) -> BatchResult:
    """Verdicts for `rows` (gold.examples rows) against `history` and each other."""
    hasher = hasher or MinHasher(config.minhash)
    counts: Counter[str] = Counter()
    flags_count: Counter[str] = Counter()
    filtered: Counter[str] = Counter()
    contaminated_by_task: Counter[str] = Counter()
    ordered = sorted(rows, key=order_key)

    trajectories: list[Trajectory | None] = []
    errors: dict[int, str] = {}
    for i, t in enumerate(trajectories_of(ordered, config.max_text_chars)):
        if isinstance(t, Exception):  # one bad row must not fail the batch
            errors[i] = f"{type(t).__name__}: {t}"
            trajectories.append(None)
        else:
            trajectories.append(t)
            flags_count.update(t.flags)

    # Signatures of the whole batch at once (column-wise), for the rows the filters admit.
    near_rows: list[int] = []
    for i, t in enumerate(trajectories):
        if t is None:
            continue
        for check in FILTERS:
            result = check(t, config.minhash)
            ok, reason = (result, "") if isinstance(result, bool) else result
            if not ok:
                filtered[reason] += 1
                break
        else:
            near_rows.append(i)
    # The exact hashes in a thread: Arrow's regex kernels and the MinHash arithmetic release the
    # GIL, so the two overlap on two cores.
    pool = ThreadPoolExecutor(max_workers=1)
    hashed = pool.submit(_hashes_or_errors, [t.text if t is not None else "" for t in trajectories])
    n_bands = config.minhash.bands
    signatures = np.zeros((len(ordered), config.minhash.num_hashes), dtype=np.uint32)
    band_keys = np.zeros((len(ordered), n_bands), dtype=np.uint64)
    has_sig = np.zeros(len(ordered), dtype=bool)
    sets = ShingleSets(np.zeros(0, dtype=np.uint64), np.zeros(1, dtype=np.int64))
    set_of = np.full(len(ordered), -1, dtype=np.int64)  # batch position -> row of `sets`
    if near_rows:
        texts = [trajectories[i].text for i in near_rows]  # type: ignore[union-attr]
        sig, has, sets = hasher.signatures_and_shingles(texts)
        set_of[near_rows] = np.arange(len(near_rows))
        signatures[near_rows] = sig
        band_keys[near_rows] = hasher.band_keys(sig)
        has_sig[near_rows] = has

    hist_candidates = _Buckets(history.band_keys, history.has_signature).candidates(
        band_keys, has_sig
    )
    digests = hashed.result()
    pool.shutdown()
    hist_exact = {h: i for i, h in enumerate(history.content_hashes)}
    # content hash -> batch position of the first example with it (kept or a near duplicate)
    batch_exact: dict[str, int] = {}
    peers = _BatchPeers(band_keys, has_sig)

    verdicts: list[Verdict] = []
    for i, row in enumerate(ordered):
        base = dict(
            example_id=str(row["example_id"]),
            run_id=str(row.get("run_id") or ""),
            split=str(row.get("split") or ""),
            synthetic=bool(row.get("synthetic")),
            event_ids=list(row.get("event_ids") or []),
        )
        t = trajectories[i]
        if t is None:
            verdicts.append(
                Verdict(
                    **base,
                    verdict=CURATION_ERROR,
                    cluster_id=None,
                    content_hash="",
                    detail=f"could not read the trajectory: {errors[i]}",
                )
            )
            counts[CURATION_ERROR] += 1
            continue
        try:
            digest, error = digests[i]
            if error is not None:
                raise RuntimeError(error)
            v = _judge(
                i,
                base,
                t,
                digest,
                verdicts,
                history,
                hist_exact,
                hist_candidates,
                batch_exact,
                peers,
                signatures,
                band_keys,
                has_sig,
                lambda k: sets.get(int(set_of[k])),
                config,
                contamination,
            )
        except Exception as exc:  # one bad row must not fail the batch
            v = Verdict(
                **base,
                verdict=CURATION_ERROR,
                cluster_id=None,
                content_hash="",
                detail=f"check failed: {type(exc).__name__}: {exc}",
                flags=t.flags,
            )
        counts[v.verdict] += 1
        for task in v.task_ids:
            contaminated_by_task[task] += 1
        verdicts.append(v)

    # Step level, over the examples kept (the dropped ones never reach the export): marks as
    # flags on the kept verdicts, counts in the result.
    kept_rows = [ordered[i] for i, v in enumerate(verdicts) if v.verdict == KEPT]
    steps = mark_steps(kept_rows, config.steps)
    for v in verdicts:
        for flag in steps.flags.get(v.example_id, ()):
            v.flags = [*v.flags, flag]
    return BatchResult(
        verdicts,
        {
            "steps": steps.counts,
            "examples": len(ordered),
            "by_verdict": dict(sorted(counts.items())),
            "contaminated_by_task": dict(sorted(contaminated_by_task.items())),
            "bad_input": dict(sorted(flags_count.items())),
            "near_check_skipped": dict(sorted(filtered.items())),
        },
    )


# (content hash, None), or ("", the error) for a text whose hash raised.
HashOrError = tuple[str, str | None]


def _hashes_or_errors(texts: list[str]) -> list[HashOrError]:
    try:
        return [(h, None) for h in content_hashes(texts)]
    except Exception:  # find the text at fault; the others are hashed as usual
        out: list[HashOrError] = []
        for text in texts:
            try:
                out.append((content_hashes([text])[0], None))
            except Exception as exc:
                out.append(("", f"{type(exc).__name__}: {exc}"))
        return out


def _judge(
    i: int,
    base: dict[str, Any],
    t: Trajectory,
    digest: str,
    verdicts: list[Verdict],
    history: History,
    hist_exact: dict[str, int],
    hist_candidates: dict[int, set[int]],
    batch_exact: dict[str, int],
    peers: _BatchPeers,
    signatures: np.ndarray,
    band_keys: np.ndarray,
    has_sig: np.ndarray,
    shingle_set: Callable[[int], np.ndarray],
    config: CurateConfig,
    contamination: ContaminationIndex | None,
) -> Verdict:
    if contamination is not None:
        hit = contamination.match(t.goal, t.text)
        if hit is not None:
            rule, tasks = hit
            return Verdict(
                **base,
                verdict=CONTAMINATED,
                cluster_id=None,
                content_hash=digest,
                detail=f"{rule}: {', '.join(tasks)}",
                flags=t.flags,
                rule=rule,
                task_ids=tasks,
            )

    def joined(verdict: str, rule: str, cluster: str, rep: str, split: str, why: str) -> Verdict:
        return Verdict(
            **base,
            verdict=verdict,
            cluster_id=cluster,
            content_hash=digest,
            detail=f"cluster {cluster} ({split}): {why}",
            flags=t.flags,
            rule=rule,
            representative=rep,
        )

    if digest in hist_exact:
        h = hist_exact[digest]
        return joined(
            DUPLICATE_EXACT,
            "exact",
            history.cluster_ids[h],
            history.example_ids[h],
            history.splits[h],
            f"same content as {history.example_ids[h]}",
        )
    if digest in batch_exact:
        # The same content as an example judged before it, kept or itself a near duplicate:
        # either way this one joins that example's cluster.
        same = verdicts[batch_exact[digest]]
        return joined(
            DUPLICATE_EXACT,
            "exact",
            same.cluster_id or same.example_id,
            same.representative or same.example_id,
            same.split,
            f"same content as {same.example_id}",
        )

    if has_sig[i]:
        # (jaccard, cluster, rep, split, how the Jaccard was had)
        best: tuple[float, str, str, str, str] | None = None
        for h in sorted(hist_candidates.get(i, ())):
            j = estimated_jaccard(signatures[i], history.signatures[h])
            if j >= config.near_threshold and (best is None or j > best[0]):
                best = (
                    j, history.cluster_ids[h], history.example_ids[h], history.splits[h],
                    "estimated Jaccard",
                )  # fmt: skip
        if peers.has_earlier[i]:
            mine = shingle_set(i)
            for k in peers.earlier(i, band_keys[i]):
                kept = verdicts[k]
                if kept.verdict != KEPT:
                    continue
                j = exact_jaccard(mine, shingle_set(k))
                if j >= config.near_threshold and (best is None or j > best[0]):
                    best = (
                        j, kept.cluster_id or kept.example_id, kept.example_id, kept.split,
                        "Jaccard",
                    )  # fmt: skip
        if best is not None:
            j, cluster, rep, split, how = best
            batch_exact[digest] = i
            return joined(DUPLICATE_NEAR, "near", cluster, rep, split, f"{how} {j:.2f} with {rep}")

    batch_exact[digest] = i
    return Verdict(
        **base,
        verdict=KEPT,
        cluster_id=base["example_id"],
        content_hash=digest,
        signature=signatures[i] if has_sig[i] else None,
        band_keys=band_keys[i] if has_sig[i] else None,
        flags=t.flags,
    )
