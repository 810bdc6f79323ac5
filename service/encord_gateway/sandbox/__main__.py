"""`python -m encord_gateway.sandbox`: run the Encord-compatible sandbox server."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from .server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m encord_gateway.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8900, help="port to bind (default 8900)")
    parser.add_argument(
        "--state", type=Path, default=None, help="SQLite state file (created if missing); in memory when omitted"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(serve(args.host, args.port, args.state))
    except (OSError, ValueError) as exc:  # port in use, unreadable or foreign state file
        parser.exit(2, f"sandbox: {exc}\n")


if __name__ == "__main__":
    main()
