"""Delivery costs: committing a report, the failure path, and bursts of failures.

    python benchmarks/delivery.py

All traffic goes to jobwatch.testing.FakeDingTalk on 127.0.0.1; the outbox lives in a
temporary directory. Figures: median microseconds to commit one report to the outbox; median
microseconds a failing @monitor call costs (report built, rendered, committed, exception
re-raised); a burst of 1,000 failures from one process and from 20 processes: messages sent,
seconds until every report was delivered, peak RSS.
"""

from __future__ import annotations

import contextlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

STATE = tempfile.mkdtemp(prefix="jobwatch-bench-")
os.environ["XDG_STATE_HOME"] = STATE
for name in [n for n in os.environ if n.startswith("JOBWATCH_")]:
    del os.environ[name]


import jobwatch  # noqa: E402
from jobwatch import outbox  # noqa: E402
from jobwatch.testing import FakeDingTalk  # noqa: E402


def commit_cost() -> float:
    store = outbox.Outbox(os.path.join(STATE, "commit.sqlite3"))
    payload = {"msgtype": "markdown", "markdown": {"title": "t", "text": "x" * 2000}}
    summary = {"name": "job", "status": "failure"}
    samples = []
    for i in range(2000):
        started = time.perf_counter()
        store.add("robot", f"uuid-{i}", payload, summary)
        samples.append(time.perf_counter() - started)
    store.close()
    return statistics.median(samples) * 1e6


def failure_path_cost(robot: FakeDingTalk) -> float:
    jobwatch.configure(webhook=robot.webhook)

    @jobwatch.monitor("bench-failure")
    def job() -> None:
        raise ValueError("benchmark failure")

    samples = []
    for _ in range(300):
        started = time.perf_counter()
        with contextlib.suppress(ValueError):
            job()
        samples.append(time.perf_counter() - started)
    jobwatch.flush(60)
    return statistics.median(samples) * 1e6


def burst_in_process(robot: FakeDingTalk) -> tuple[int, float]:
    robot.reset()

    @jobwatch.monitor("bench-burst")
    def job(n: int) -> None:
        raise ValueError(f"burst {n}")

    started = time.perf_counter()
    for n in range(1000):
        with contextlib.suppress(ValueError):
            job(n)
    assert jobwatch.flush(120)
    return len(robot.messages), time.perf_counter() - started


PROCESS = """
import jobwatch

@jobwatch.monitor("bench-procs")
def job(n):
    raise ValueError(f"proc burst {n}")

for n in range(50):
    try:
        job(n)
    except ValueError:
        pass
"""


def burst_in_processes(robot: FakeDingTalk) -> tuple[int, float, int]:
    robot.reset()
    env = {**os.environ, **robot.env(), "PYTHONPATH": ROOT, "JOBWATCH_FLUSH_TIMEOUT": "60"}
    started = time.perf_counter()
    procs = [
        subprocess.Popen([sys.executable, "-c", textwrap.dedent(PROCESS)], env=env)
        for _ in range(20)
    ]
    for proc in procs:
        proc.wait(timeout=300)
    assert jobwatch.flush(120)
    elapsed = time.perf_counter() - started
    digests = [m for m in robot.messages if "条报告" in m["markdown"]["title"]]
    lines = sum(
        line.startswith("- ") and "proc burst" in line
        for m in digests for line in m["markdown"]["text"].split("\n")
    ) + len(robot.messages) - len(digests)  # a report sent alone is one message
    return len(robot.messages), elapsed, lines


def main() -> None:
    print(f"python {sys.version.split()[0]}, outbox under {STATE}")
    print(f"commit one report to the outbox: {commit_cost():8.1f} us (median of 2,000)")
    # A new robot per phase: the host-wide budget of one robot would carry over between them.
    with FakeDingTalk() as robot:
        print(f"failing @monitor call, whole path: {failure_path_cost(robot):8.1f} us"
              " (median of 300)")
    with FakeDingTalk() as robot:
        jobwatch.configure(webhook=robot.webhook)
        sent, seconds = burst_in_process(robot)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"1,000 failures, one process: {sent} messages, all delivered in {seconds:.1f} s,"
              f" peak RSS {peak:.0f} MiB, 130101 answers:"
              f" {sum(r.errcode == 130101 for r in robot.requests)}")
    with FakeDingTalk() as robot:
        jobwatch.configure(webhook=robot.webhook)
        sent, seconds, lines = burst_in_processes(robot)
        print(f"1,000 failures, 20 processes: {sent} messages, {lines} report lines, all"
              f" delivered in {seconds:.1f} s, 130101 answers:"
              f" {sum(r.errcode == 130101 for r in robot.requests)}")


if __name__ == "__main__":
    main()
