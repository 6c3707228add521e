"""The ``jobwatch`` command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def _version() -> str:
    from importlib.metadata import version

    return version("jobwatch")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="jobwatch",
        description="Watch batch jobs and tell a DingTalk group how they went.",
    )
    parser.add_argument("--version", action="version", version=f"jobwatch {_version()}")
    parser.parse_args(argv)
    parser.print_help()
    return 0
