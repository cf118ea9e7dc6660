"""The repository stands alone: no file cites documents that live outside it, and every
`docs/<name>.md` a file mentions exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
TEXT_SUFFIXES = {".py", ".md", ".toml", ".yaml", ".yml", ".cfg", ".txt", ".example", ""}
# Stored reversed so that this file does not cite what it looks for.
OUTSIDE = [
    name[::-1]
    for name in ("dm.secruos-ecart", "dm.NGISED", "seton SREPOLEVED", "derahs/..", "derahs/krow/")
]


def _repo_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    files = [PROJECT / p for p in listed]
    return [
        f for f in files if f.is_file() and f.suffix in TEXT_SUFFIXES and "fixtures" not in f.parts
    ]


def test_no_file_cites_documents_outside_the_repository():
    offenders = []
    for path in _repo_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        offenders += [f"{path.relative_to(PROJECT)}: {c}" for c in OUTSIDE if c in text]
    assert offenders == []


def test_every_docs_reference_points_at_a_file():
    missing = set()
    for path in _repo_files():
        if "tests" in path.relative_to(PROJECT).parts:  # test data holds other projects' paths
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for name in re.findall(r"\bdocs/([\w.-]+\.md)\b", text):
            if not (PROJECT / "docs" / name).exists():
                missing.add(f"{path.relative_to(PROJECT)} -> docs/{name}")
    assert sorted(missing) == []
