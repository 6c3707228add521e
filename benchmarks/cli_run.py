"""`jobwatch run -- true` against `python -c pass`: what wrapping a cron line costs.

    python benchmarks/cli_run.py [--runs 30]

Each started as a fresh process, interleaved, medians reported. Target (the CLI issue): at most
4x. The run's history row is written to an outbox in a scratch directory.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV.update(PYTHONPATH=ROOT, XDG_STATE_HOME=tempfile.mkdtemp(prefix="jobwatch-bench-"))
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
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    for command in CASES.values():  # warm the caches and create the outbox
        subprocess.run(command, env=ENV, check=True)
    for _ in range(runs):
        for name, command in CASES.items():
            started = time.perf_counter()
            subprocess.run(command, env=ENV, check=True)
            samples[name].append(time.perf_counter() - started)
    base = statistics.median(samples["python -c pass"])
    print(f"python {sys.version.split()[0]} at {sys.executable}, {runs} interleaved runs each")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"{name:24} {median * 1000:7.1f} ms  {median / base:5.2f}x")


if __name__ == "__main__":
    main()
