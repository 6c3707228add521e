"""Whole-process cost a user sees: import jobwatch, decorate a function, call it once.

    python benchmarks/import_cost.py [--runs 40]

Compares against the same script without jobwatch and against `python -c pass`, each started
as a fresh interpreter, interleaved, medians reported. Target (the @monitor issue): at most 3x
the script without jobwatch. Also checks that nothing heavy was imported on the way.
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

SCRIPTS = {
    "python -c pass": "pass",
    "script without jobwatch": "def job(x):\n    return x + 1\njob(1)\n",
    "script with @jobwatch.monitor": (
        "import jobwatch\n"
        "@jobwatch.monitor('job', owners=['13800000000'])\n"
        "def job(x):\n    return x + 1\njob(1)\n"
    ),
}
HEAVY = ("requests", "tenacity", "sqlite3", "asyncio", "dataclasses", "logging", "typing")


# Users' interpreters cache bytecode; without it every run would time the compiler too. The
# watched script records its run in the outbox at exit: keep that in a scratch directory.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="jobwatch-bench-")


def run(code: str) -> float:
    env = {**ENV, "PYTHONPATH": ROOT}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    runs = parser.parse_args().runs
    samples: dict[str, list[float]] = {name: [] for name in SCRIPTS}
    for code in SCRIPTS.values():  # warm the page cache and the .pyc files
        run(code)
    for _ in range(runs):
        for name, code in SCRIPTS.items():
            samples[name].append(run(code))
    medians = {name: statistics.median(v) * 1000 for name, v in samples.items()}
    base = medians["script without jobwatch"]
    print(f"python {sys.version.split()[0]} at {sys.executable}, {runs} interleaved runs each")
    for name, value in medians.items():
        spread = statistics.pstdev(samples[name]) * 1000
        print(f"{name:32} {value:7.1f} ms (sd {spread:4.1f})  {value / base:5.2f}x")
    baseline = f"import sys\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    probe = SCRIPTS["script with @jobwatch.monitor"] + baseline
    env = {**ENV, "PYTHONPATH": ROOT}
    loaded = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                            text=True, check=True).stdout.strip()
    already = subprocess.run([sys.executable, "-c", baseline], env=env, capture_output=True,
                             text=True, check=True).stdout.strip()
    print(f"heavy modules loaded by the jobwatch script: {loaded or 'none'}"
          f" (loaded by the interpreter itself: {already or 'none'})")


if __name__ == "__main__":
    main()
