"""`python -m tracelake.jobs.collect --port 4318`: run the OTLP/HTTP receiver until SIGINT/SIGTERM.

Prints one line, `listening on <url>`, once it accepts traces (with --port 0, the port chosen).
"""

from __future__ import annotations

import argparse
import logging
import sys

from ..context import JobContext
from ..errors import TracelakeError
from ..settings import load_settings
from .server import DEFAULT_HOST, DEFAULT_MAX_BODY_BYTES, DEFAULT_PORT, serve


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tracelake.jobs.collect",
        description="Receive OpenTelemetry traces over OTLP/HTTP and append them to bronze.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--flush-interval", type=float, default=1.0, metavar="SECONDS")
    parser.add_argument("--max-batch-events", type=int, default=10_000)
    parser.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES)
    parser.add_argument("--verbose", action="store_true", help="log every request")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    try:
        ctx = JobContext.create(load_settings())
        result = serve(
            ctx,
            host=args.host,
            port=args.port,
            flush_interval_s=args.flush_interval,
            max_batch_events=args.max_batch_events,
            max_body_bytes=args.max_body_bytes,
            on_listening=lambda url: print(f"listening on {url}", flush=True),
        )
    except TracelakeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(result.message, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
