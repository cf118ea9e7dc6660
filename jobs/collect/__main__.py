"""`python -m tracelake.jobs.collect ...` is `tracelake collect ...` (one CLI, one set of
options); kept so existing service definitions keep working."""

from __future__ import annotations

import sys

from ..cli import app

# Options of the top-level command that older service definitions pass after the module name;
# they are moved in front of `collect`, where the one CLI expects them.
_GLOBAL_FLAGS = {"--verbose", "-v"}
_GLOBAL_WITH_VALUE = {"--lake", "--config"}


def _split(argv: list[str]) -> tuple[list[str], list[str]]:
    global_args: list[str] = []
    collect_args: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        name = arg.split("=", 1)[0]
        if arg in _GLOBAL_FLAGS:
            global_args.append(arg)
        elif name in _GLOBAL_WITH_VALUE:
            global_args.append(arg)
            if "=" not in arg and i + 1 < len(argv):
                i += 1
                global_args.append(argv[i])
        else:
            collect_args.append(arg)
        i += 1
    return global_args, collect_args


def main(argv: list[str] | None = None) -> None:
    global_args, collect_args = _split(sys.argv[1:] if argv is None else argv)
    app([*global_args, "collect", *collect_args], prog_name="tracelake")


if __name__ == "__main__":
    main()
