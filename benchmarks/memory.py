"""Memory of a long-lived job that keeps failing: RSS after 1,000 failing calls and after 100,000.

    python benchmarks/memory.py [--calls 100000]

A child process calls a @monitor-ed function that raises, over and over, with reports going
to a FakeDingTalk (DingTalk's real rate limit) in this process; it reads its own RSS after a
warm-up of 1,000 failures and then at checkpoints up to 100,000, after gc.collect(). Target
(the @monitor issue): under 10 MB growth from 1,000 to 100,000: a report, its traceback and
the job's frames must not be kept once the report is committed. Also printed: how many
reports were still waiting in the outbox at the end (they are delivered by later flushes;
jobwatch's budget is 18 messages a minute, each a digest of up to 1,000 reports).
"""

from __future__ import annotations

import argparse
import subprocess
import sys

import _bench

_bench.isolate()

from jobwatch.testing import FakeDingTalk  # noqa: E402

JOB = """
import gc, sys
sys.path.insert(0, sys.argv[2])
import _bench
import jobwatch
from jobwatch import delivery

@jobwatch.monitor("leaky-job", owners=["13800000000"])
def job(n, payload):
    raise ValueError(f"failure {n} with a local of {len(payload)} bytes")

total = int(sys.argv[1])
checkpoints = sorted({c for c in (1_000, total // 10, total // 4, total // 2, total) if c >= 1_000})
n = 0
for mark in checkpoints:
    while n < mark:
        try:
            job(n, bytearray(1000))  # a frame local that must be freed with the report
        except ValueError:
            pass
        n += 1
    gc.collect()
    print(f"{n} {_bench.rss_mib():.2f} {delivery.get().pending}", flush=True)
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=100_000)
    total = parser.parse_args().calls
    print(_bench.machine())
    with FakeDingTalk(secret="SECbench" + "0" * 56) as robot:
        env = _bench.child_env(**robot.env(), JOBWATCH_FLUSH_TIMEOUT="2")
        run = subprocess.run(
            [sys.executable, "-c", JOB, str(total), _bench.ROOT + "/benchmarks"],
            env=env, capture_output=True, text=True, check=True,
        )
        throttled = sum(r.errcode == 130101 for r in robot.requests)
        sent = len(robot.messages)
    readings = [(int(n), float(rss), int(waiting)) for n, rss, waiting in
                (line.split() for line in run.stdout.splitlines())]
    base = readings[0][1]
    print("failing calls  RSS MiB  growth since 1,000  reports not yet delivered")
    for n, rss, waiting in readings:
        print(f"{n:13,} {rss:8.1f} {rss - base:+19.1f} {waiting:26,}")
    growth_mb = (readings[-1][1] - base) * 1.048576
    print(f"growth from 1,000 to {readings[-1][0]:,} failing calls: {growth_mb:.1f} MB"
          f" (target < 10 MB); messages sent meanwhile: {sent}, 130101 answers: {throttled}")
    tail = run.stderr.strip().splitlines()
    if tail:
        print(f"the job said at exit: {tail[-1][:200]}")


if __name__ == "__main__":
    main()
