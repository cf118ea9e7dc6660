"""Coverage-guided fuzzing of every dialect parser and the OTLP mapper (atheris).

    python tests/fuzz/fuzz_parsers.py [-max_total_time=120] [corpus_dir]

The first input byte picks the dialect, the rest is the document. A finding is any exception
out of sniffing or parsing, or a batch whose records read are not its events plus its
rejections. Not collected by pytest; `make fuzz` runs it bounded in time.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from tracelake.jobs.ingest import dialects
    from tracelake.jobs.ingest.model import SourceDoc
    from tracelake.jobs.ingest.normalize import parse_doc

    # The dialect modules are imported on first use: inside the block, so they are instrumented.
    NAMES = sorted(dialects.registry())


def one_input(data: bytes) -> None:
    if not data:
        return
    name = NAMES[data[0] % len(NAMES)]
    body = data[1:]
    dialect = dialects.get(name)
    dialect.sniff(f"x/{name}", body[:65536])
    batch = parse_doc(dialect, SourceDoc(f"mem://{name}", body), "fuzz")
    if batch.records_read != batch.n_events + batch.n_rejected:
        raise AssertionError(f"{name}: read {batch.records_read} != events + rejections")


def seed_corpus(directory: Path) -> None:
    """Fixture files as seeds, one per dialect byte, so the fuzzer starts near valid input."""
    directory.mkdir(parents=True, exist_ok=True)
    fixtures = Path(__file__).parent.parent / "fixtures"
    for i, path in enumerate(sorted(p for p in fixtures.rglob("*") if p.is_file())):
        detected = dialects.detect(str(path), path.read_bytes()[:65536])
        index = NAMES.index(detected.name) if detected else i % len(NAMES)
        (directory / f"seed-{i}").write_bytes(bytes([index]) + path.read_bytes())


if __name__ == "__main__":
    args = sys.argv[1:]
    corpus = next((a for a in args if not a.startswith("-")), None)
    if corpus:
        seed_corpus(Path(corpus))
    atheris.Setup([sys.argv[0], *args], one_input)
    atheris.Fuzz()
