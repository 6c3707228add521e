"""Run every benchmark in turn, each in its own interpreter, and print what each prints.

    python benchmarks/all.py

The figures in docs/benchmarks.md come from this, run with the python of a virtualenv that
has ``pip install -e '.[bench]'``. Takes a few minutes (memory.py makes 100,000 failing calls).
"""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPTS = (
    "import_cost.py", "success_path.py", "sends.py", "failure_path.py", "burst.py",
    "memory.py", "cli_run.py", "faults.py",
)


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    failed = []
    for script in SCRIPTS:
        print(f"\n$ python benchmarks/{script}", flush=True)
        if subprocess.run([sys.executable, os.path.join(here, script)], check=False).returncode:
            failed.append(script)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
