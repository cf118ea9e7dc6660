"""`python -m tracelake.jobs.collect ...` is `tracelake collect ...` (one CLI, one set of
options); kept so existing service definitions keep working."""

from __future__ import annotations

import sys

from ..cli import app


def main(argv: list[str] | None = None) -> None:
    app(["collect", *(sys.argv[1:] if argv is None else argv)], prog_name="tracelake")


if __name__ == "__main__":
    main()
