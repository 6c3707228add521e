"""A burst of 1,000 failures: messages sent, the busiest minute, time until all delivered.

    python benchmarks/burst.py [--spread SECONDS]

Two bursts, each against a fresh FakeDingTalk with DingTalk's real limit (20 messages per
rolling minute, then a 10-minute penalty answered 130101):

- one process whose @monitor-ed function fails 1,000 times in a row;
- 20 processes started together, each failing 50 times.

The jobs run as child processes with the outbox in a scratch directory. Figures: messages
sent, the most in any 60 s (target: <= 20, none answered 130101), whether every one of the
1,000 reports arrived (each failure's message is unique and is looked for in what the robot
accepted), seconds from the first start until all were delivered, and the job's peak RSS.
``--spread 150`` spaces each process's failures evenly over 150 s instead of all at once: a
burst that spans several rolling minutes, to see the budget hold across windows.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time

import _bench

_bench.isolate()

from jobwatch.testing import FakeDingTalk  # noqa: E402

JOB = """
import resource, sys, time
import jobwatch

@jobwatch.monitor("burst-job", owners=["13800000000"])
def job(p, n):
    raise ValueError(f"burst p{p} n{n}")

p, count, spread = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
started = time.perf_counter()
for n in range(count):
    try:
        job(p, n)
    except ValueError:
        pass
    time.sleep(spread / count)
calls = time.perf_counter() - started
delivered = jobwatch.flush(300)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{calls:.3f} {delivered} {peak:.1f}")
"""
TOKEN = re.compile(r"burst p(\d+) n(\d+)")


def burst(processes: int, each: int, spread: float) -> None:
    with FakeDingTalk(secret="SECbench" + "0" * 56) as robot:
        env = _bench.child_env(**robot.env())
        started = time.perf_counter()
        procs = [
            subprocess.Popen([sys.executable, "-c", JOB, str(p), str(each), str(spread)], env=env,
                             stdout=subprocess.PIPE, text=True)
            for p in range(processes)
        ]
        outputs = [proc.communicate(timeout=900)[0].split() for proc in procs]
        elapsed = time.perf_counter() - started
        found = {
            m.groups()
            for message in robot.messages
            for m in TOKEN.finditer(message["markdown"]["text"])
        }
        accepted = [r for r in robot.requests if r.errcode == 0]
        throttled = sum(r.errcode == 130101 for r in robot.requests)
    total = processes * each
    calls = max(float(o[0]) for o in outputs)
    peak = max(float(o[2]) for o in outputs)
    flushed = all(o[1] == "True" for o in outputs)
    over = f", spread over {spread:g} s" if spread else ", all at once"
    print(f"{total:,} failures from {processes} process(es) of {each}{over}:")
    print(f"  failing calls took {calls:.2f} s (slowest process); {len(accepted)} messages sent,"
          f" at most {_bench.busiest_minute([r.at for r in accepted])} in any 60 s"
          f" (target <= 20); 130101 answers: {throttled}")
    print(f"  reports delivered: {len(found):,} of {total:,}"
          f" ({'all' if len(found) == total else 'SOME MISSING'}; every flush() said"
          f" {'delivered' if flushed else 'NOT delivered'}); all delivered"
          f" {elapsed:.1f} s after the first start; peak RSS of a job {peak:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spread", type=float, default=0.0)
    spread = parser.parse_args().spread
    print(_bench.machine())
    burst(1, 1000, spread)
    burst(20, 50, spread)


if __name__ == "__main__":
    main()
