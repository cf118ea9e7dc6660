"""The deduplication index alone (bronze.event_keys): what one lookup batch costs against
indexes of growing size, without ingest around it.

    .venv/bin/python tests/benchmarks/bench_event_keys.py [--keys 100000,1000000]
        [--batch 10000] [--duplicate-share 0.1] [--row-group-rows N (the setting's default)]

For each size: synthetic keys (ids like a simulator's, 32-hex content hashes) written as one
merged index file, as maintenance leaves it; then a fresh process opens the index (footer and
Bloom filters) and looks up a batch of `--batch` ids, `--duplicate-share` of them stored:
seconds to open, seconds to look up, index rows read (id hashes of fence blocks, and rows of
row groups decoded), row groups decoded, bytes of filters held, peak RSS.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from tracelake.jobs.settings import IngestSettings

_CHILD = """
import json, random, resource, sys, time
import pyarrow as pa
from tracelake.jobs.ingest import event_keys
from tracelake.jobs.lake.store import Lake
from tracelake.jobs.lake import catalog
lake = Lake(sys.argv[1], {})
keys, batch, share, seed = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), 7
rng = random.Random(seed)
stored = rng.sample(range(keys), int(batch * share))
dups = [f"run-{i // 20}-e{i % 20}" for i in stored]
new = [f"new-{i}" for i in range(batch - len(dups))]
ids = pa.array(dups + new)
# The content hash each id comes with, as ingest passes it: the copies' are the stored ones.
contents = pa.array([f"{i:032x}" for i in stored] + ["0" * 32] * len(new))
events = lake.ensure(catalog.BRONZE_EVENTS)
def peak_mib():  # VmHWM: ru_maxrss carries the parent's peak over fork and exec
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
base = peak_mib()
t0 = time.perf_counter()
index = event_keys.open_index(lake, events)
t1 = time.perf_counter()
found, rows_read = index.lookup(ids, contents)
t2 = time.perf_counter()
assert len(found) == len(dups), (len(found), len(dups))
print(json.dumps({"open_s": t1 - t0, "lookup_s": t2 - t1, "rows_read": rows_read,
                  "row_groups_read": index.row_groups_read,
                  "filter_mib": sum(f.bloom_bytes.nbytes for f in index.files) / 2**20,
                  "rss_mib": peak_mib(),
                  "rss_before_mib": base}))
"""


def _build(root: Path, keys: int, row_group_rows: int) -> None:
    import pyarrow as pa

    from tracelake.jobs.ingest import event_keys
    from tracelake.jobs.lake import catalog
    from tracelake.jobs.lake.store import Lake

    lake = Lake(str(root), {})
    events = lake.ensure(catalog.BRONZE_EVENTS)
    ids = pa.array([f"run-{i // 20}-e{i % 20}" for i in range(keys)])
    hashes = pa.array([f"{i:032x}" for i in range(keys)])
    table = event_keys.sorted_keys(pa.table({"event_id": ids, "content_hash": hashes}))
    files = event_keys.write_key_files(lake, table, row_group_rows, keys + 1)
    lake.commit_files(
        catalog.BRONZE_EVENT_KEYS,
        files,
        app_txn=(event_keys.coverage_app(events), events.version()),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keys", default="100000,1000000")
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--duplicate-share", type=float, default=0.1)
    ap.add_argument(
        "--row-group-rows",
        type=int,
        default=IngestSettings.model_fields["key_index_row_group_rows"].default,
    )
    args = ap.parse_args()
    print(
        f"{'keys':>10} {'open s':>7} {'lookup s':>9} {'rows read':>10} {'groups':>7} "
        f"{'filters':>9} "
        f"{'RSS before':>10} {'peak RSS':>9}"
    )
    for keys in [int(k) for k in args.keys.split(",")]:
        with tempfile.TemporaryDirectory(prefix="bench_keys_") as tmp:
            _build(Path(tmp), keys, args.row_group_rows)
            out = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    _CHILD,
                    tmp,
                    str(keys),
                    str(args.batch),
                    str(args.duplicate_share),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"{keys:>10,} {r['open_s']:>7.3f} {r['lookup_s']:>9.3f} {r['rows_read']:>10,} "
                f"{r['row_groups_read']:>7,} "
                f"{r['filter_mib']:>5.1f} MiB {r['rss_before_mib']:>6.0f} MiB "
                f"{r['rss_mib']:>5.0f} MiB",
                flush=True,
            )


if __name__ == "__main__":
    main()
