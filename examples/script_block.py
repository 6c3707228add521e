"""A script whose main block runs under ``with jobwatch.watch():``.

    python examples/script_block.py

Notes added with ``w.note()`` appear in the report. This run succeeds, and notify="always"
reports successes too, so the dry run prints a success report.
"""

from __future__ import annotations

import shutil
import tempfile

import jobwatch

if __name__ == "__main__":
    with jobwatch.watch("disk-report", notify="always", lang="en") as w:
        usage = shutil.disk_usage(tempfile.gettempdir())
        w.note("free", f"{usage.free / 2**30:.1f} GiB of {usage.total / 2**30:.1f} GiB")
