"""What the benchmark scripts share: a scratch environment, interleaved timing, medians with
their spread, memory readings, the machine's description, and a FakeDingTalk in its own process.

Every script prints the machine line first, then one row per candidate: the median, its ratio
to the script's baseline, and the spread (interquartile range / median) as the noise of that
row on this machine.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
SCRATCH = tempfile.mkdtemp(prefix="jobwatch-bench-")


def child_env(**extra: str) -> dict[str, str]:
    """The environment for measured child processes: no JOBWATCH_* settings of the caller's,
    the outbox in a scratch directory, this checkout importable, and bytecode caching on (users'
    interpreters cache it; without it every run would time the compiler too)."""
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith("JOBWATCH_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(XDG_STATE_HOME=SCRATCH, PYTHONPATH=ROOT)
    env.update(extra)
    return env


def isolate() -> None:
    """The same for this process: import this checkout, keep the outbox in the scratch dir."""
    for name in [n for n in os.environ if n.startswith("JOBWATCH_")]:
        del os.environ[name]
    os.environ["XDG_STATE_HOME"] = SCRATCH
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)


def have(module: str) -> bool:
    """Whether a peer is installed (``pip install -e '.[bench]'`` installs them all)."""
    return importlib.util.find_spec(module) is not None


def interleave(
    cases: dict[str, Callable[[], float]], rounds: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Call each case once per round, in turn, so that drifts of the machine hit all alike."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(warmup):
        for case in cases.values():
            case()
    for _ in range(rounds):
        for name, case in cases.items():
            samples[name].append(case())
    return samples


def process_timer(argv: list[str], env: dict[str, str]) -> Callable[[], float]:
    """A case for interleave(): seconds to run ``argv`` to its end as a fresh process."""
    def run() -> float:
        started = time.perf_counter()
        subprocess.run(argv, check=True, env=env)
        return time.perf_counter() - started

    return run


def spread(values: list[float]) -> float:
    """Interquartile range over median, in percent: this row's noise."""
    if len(values) < 4:
        return 0.0
    q1, _, q3 = statistics.quantiles(values, n=4)
    return (q3 - q1) / statistics.median(values) * 100


def table(
    samples: dict[str, list[float]], base: str, unit: str, scale: float = 1.0,
    baseline_label: str | None = None,
) -> dict[str, float]:
    """Print one row per case: median (times ``scale``, in ``unit``), ratio to ``base``,
    spread. Return the medians (scaled)."""
    medians = {name: statistics.median(v) * scale for name, v in samples.items() if v}
    floor = medians[base]
    width = max(len(n) for n in medians) + 2
    versus = "vs " + (baseline_label or base)
    ratio = max(len(versus), 8)
    print(f"{'':{width}} {unit:>10} {versus:>{ratio}} {'spread':>7}")
    for name, value in medians.items():
        print(f"{name:{width}} {value:10.1f} {value / floor:{ratio - 1}.2f}x"
              f" {spread(samples[name]):6.1f}%")
    return medians


def machine() -> str:
    """Python, CPU and load: the first line of every script's output."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"Python {platform.python_version()} ({sys.executable}); {os.cpu_count()} cores, {cpu};"
        f" {platform.system()} {platform.release()}; load average {load}"
    )


def rss_mib() -> float:
    """This process's resident memory now, in MiB (Linux)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


_SERVER = """
import json, sys
from jobwatch.testing import FakeDingTalk

with FakeDingTalk(**json.loads(sys.argv[1])) as robot:
    print(json.dumps({"webhook": robot.webhook, "secret": robot.secret}), flush=True)
    for line in sys.stdin:
        if line.strip() == "reset":
            robot.reset()
            print("{}", flush=True)
        else:
            answer = {
                "messages": robot.messages,
                "requests": [[r.at, r.errcode] for r in robot.requests],
            }
            print(json.dumps(answer, ensure_ascii=False), flush=True)
"""


class RemoteFake:
    """A FakeDingTalk in a process of its own, so that serving does not share this process's
    GIL and core with what is measured. Same keyword arguments as FakeDingTalk."""

    def __init__(self, **kwargs: Any) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER, json.dumps(kwargs)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=child_env(),
        )
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        self._in, self._out = self._proc.stdin, self._proc.stdout
        hello = json.loads(self._out.readline())
        self.webhook: str = hello["webhook"]
        self.secret: str | None = hello["secret"]

    def env(self) -> dict[str, str]:
        env = {"JOBWATCH_WEBHOOK": self.webhook}
        if self.secret:
            env["JOBWATCH_SECRET"] = self.secret
        return env

    def _ask(self, command: str) -> dict[str, Any]:
        self._in.write(command + "\n")
        self._in.flush()
        answer: dict[str, Any] = json.loads(self._out.readline())
        return answer

    def records(self) -> tuple[list[dict[str, Any]], list[tuple[float, int | None]]]:
        """Accepted messages, and (arrival time, errcode) of every request."""
        answer = self._ask("stats")
        return answer["messages"], [(at, code) for at, code in answer["requests"]]

    def reset(self) -> None:
        self._ask("reset")

    def close(self) -> None:
        self._in.close()
        self._proc.wait(10)

    def __enter__(self) -> RemoteFake:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def busiest_minute(times: list[float]) -> int:
    """The most requests that arrived within any 60 s."""
    times = sorted(times)
    most, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= 60:
            first += 1
        most = max(most, last - first + 1)
    return most
