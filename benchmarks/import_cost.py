"""Whole-process cost a user sees: import jobwatch, decorate a function, call it once.

    python benchmarks/import_cost.py [--runs 40]

Each row is a fresh interpreter running a small script; rows are interleaved, medians
reported. Baseline: the same script without jobwatch. Peers (``pip install -e '.[bench]'``):
a script that only imports each of them. Target (the @monitor issue): jobwatch's script at
most 3x the script without it. Also checks that nothing heavy was imported on the way.

Run it with a virtualenv's python: outside one, a system site-packages' .pth files may import
typing and more at every start, which hides what a package costs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

import _bench

BASE = "script without jobwatch"
SCRIPTS = {
    "python -c pass": "pass",
    BASE: "def job(x):\n    return x + 1\njob(1)\n",
    "script with @jobwatch.monitor": (
        "import jobwatch\n"
        "@jobwatch.monitor('job', owners=['13800000000'])\n"
        "def job(x):\n    return x + 1\njob(1)\n"
    ),
}
PEERS = {  # module to look for, script
    "import dingtalkchatbot": (
        "dingtalkchatbot", "from dingtalkchatbot.chatbot import DingtalkChatbot"
    ),
    "import knockknock": ("knockknock", "from knockknock import dingtalk_sender"),
    "import apprise": ("apprise", "import apprise"),
    "import sentry_sdk": ("sentry_sdk", "import sentry_sdk"),
}
HEAVY = ("requests", "tenacity", "sqlite3", "asyncio", "dataclasses", "logging", "typing")
ENV = _bench.child_env()


def loaded_by(code: str) -> str:
    probe = code + f"\nimport sys\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    done = subprocess.run([sys.executable, "-c", probe], env=ENV, capture_output=True,
                          text=True, check=True)
    return done.stdout.strip() or "none"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    runs = parser.parse_args().runs
    scripts = dict(SCRIPTS)
    missing = []
    for name, (module, code) in PEERS.items():
        if _bench.have(module):
            scripts[name] = code
        else:
            missing.append(name)
    print(_bench.machine())
    samples = _bench.interleave({n: _bench.process_timer([sys.executable, "-c", c], ENV)
                                for n, c in scripts.items()}, runs)
    print(f"{runs} interleaved runs of each, a fresh interpreter every time; median ms")
    medians = _bench.table(samples, BASE, "ms", 1000, "without")
    print(f"jobwatch script / script without it = "
          f"{medians['script with @jobwatch.monitor'] / medians[BASE]:.2f}x (target <= 3x)")
    for name in missing:
        print(f"{name}: not installed (pip install -e '.[bench]')")
    print(f"heavy modules loaded by the jobwatch script:"
          f" {loaded_by(SCRIPTS['script with @jobwatch.monitor'])}"
          f" (by the interpreter itself: {loaded_by('pass')})")


if __name__ == "__main__":
    main()
