"""`jobwatch run -- true` against `python -c pass`: what wrapping a cron line costs.

    python benchmarks/cli_run.py [--runs 30]

Each started as a fresh process, interleaved, medians reported. Target (the CLI issue): at most
4x. The run's history row is written to an outbox in a scratch directory.
"""

from __future__ import annotations

import argparse
import os
import sys

import _bench

ENV = _bench.child_env()
# The console script users type (installed next to the interpreter), else python -m.
SCRIPT = os.path.join(os.path.dirname(sys.executable), "jobwatch")
JOBWATCH = [SCRIPT] if os.path.exists(SCRIPT) else [sys.executable, "-m", "jobwatch"]
CASES = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "jobwatch run -- true": [*JOBWATCH, "run", "--", "true"],
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    runs = parser.parse_args().runs
    print(_bench.machine())
    # The warm-up round also creates the outbox the history row goes to.
    samples = _bench.interleave({n: _bench.process_timer(c, ENV) for n, c in CASES.items()}, runs)
    print(f"{runs} interleaved runs of each, a fresh process every time; median ms")
    medians = _bench.table(samples, "python -c pass", "ms", 1000, "python")
    print(f"jobwatch run -- true / python -c pass ="
          f" {medians['jobwatch run -- true'] / medians['python -c pass']:.2f}x (target <= 4x)")


if __name__ == "__main__":
    main()
