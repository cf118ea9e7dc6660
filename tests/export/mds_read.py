"""Run by .venv-mds's Python (tests/export/test_export_mds.py): read every split of an MDS
export with mosaicml-streaming's own StreamingDataset and write its rows as JSON Lines.

    mds_read.py BUILD_DIR OUT_DIR SPLIT [SPLIT ...]

Writes OUT_DIR/<split>.jsonl (one sample per line, in stream order) and prints the versions of
streaming and numpy, so the test can tell the reader ran in its own environment."""

import json
import sys

import numpy as np
import streaming
from streaming import StreamingDataset


def plain(value):
    """numpy scalars (fixed-size MDS columns decode to them) -> JSON-serializable values."""
    return value.item() if isinstance(value, np.generic) else value


def main() -> None:
    build, out, splits = sys.argv[1], sys.argv[2], sys.argv[3:]
    for split in splits:
        # shuffle=False: samples come in shard order, the order the export wrote them.
        dataset = StreamingDataset(local=build, split=split, shuffle=False, batch_size=1)
        with open(f"{out}/{split}.jsonl", "w") as f:
            for sample in dataset:
                f.write(json.dumps({k: plain(v) for k, v in sample.items()}) + "\n")
    print(json.dumps({"streaming": streaming.__version__, "numpy": np.__version__}))


if __name__ == "__main__":
    main()
