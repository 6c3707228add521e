"""What a failure costs the job: jobwatch against the bare failure and the tools users pick.

    python benchmarks/failure_path.py [--rounds 9] [--calls 100]

Each candidate is a function that raises ValueError, called and caught; the figure is the
median time per call on the job's thread. Rows:

- ``bare failing function``: raise and catch, nothing else (the baseline).
- ``@jobwatch.monitor``: report built, rendered and committed to the outbox, the exception
  re-raised; sending happens on jobwatch's worker thread, which runs meanwhile.
- ``knockknock dingtalk_sender``: the decorator posts a start message and a crash message,
  synchronously, before the exception goes on (``pip install -e '.[bench]'``).
- ``classic script``: ``except`` block that formats the traceback and posts it with a new
  DingtalkChatbot (the copy-pasted pattern; ``pip install -e '.[bench]'``).

Also: the median cost of committing one report to the outbox. All traffic goes to one
FakeDingTalk with a secret, in its own process on 127.0.0.1, its rate limit raised.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
import traceback
from collections.abc import Callable

import _bench

_bench.isolate()

import jobwatch  # noqa: E402
from jobwatch import outbox  # noqa: E402


def commit_cost() -> float:
    """Median microseconds to commit one report-sized message to a file outbox."""
    store = outbox.Outbox(os.path.join(_bench.SCRATCH, "commit.sqlite3"))
    payload = {"msgtype": "markdown", "markdown": {"title": "t", "text": "x" * 2000}}
    summary = {"name": "job", "status": "failure"}
    samples = []
    for i in range(2000):
        started = time.perf_counter()
        store.add("robot", f"uuid-{i}", payload, summary)
        samples.append(time.perf_counter() - started)
    store.close()
    return statistics.median(samples) * 1e6


def per_call(func: Callable[[], None], calls: int) -> Callable[[], float]:
    def run() -> float:
        started = time.perf_counter()
        for _ in range(calls):
            with contextlib.suppress(ValueError):
                func()
        return (time.perf_counter() - started) / calls

    return run


def candidates(webhook: str, secret: str, calls: int) -> dict[str, Callable[[], float]]:
    def job() -> None:
        raise ValueError("row 17 has no id")

    jobwatch.configure(webhook=webhook, secret=secret, owners=["13800000000"])
    cases = {
        "bare failing function": per_call(job, calls),
        "@jobwatch.monitor": per_call(jobwatch.monitor("nightly-etl")(job), calls),
    }
    if _bench.have("knockknock"):
        from knockknock import dingtalk_sender

        knocked = dingtalk_sender(webhook_url=webhook, secret=secret,
                                  user_mentions=["13800000000"])(job)
        cases["knockknock dingtalk_sender"] = per_call(knocked, calls)
    if _bench.have("dingtalkchatbot"):
        from dingtalkchatbot.chatbot import DingtalkChatbot

        def classic() -> None:
            try:
                job()
            except ValueError:
                DingtalkChatbot(webhook, secret=secret).send_markdown(
                    "任务失败", traceback.format_exc(), at_mobiles=["13800000000"]
                )
                raise

        cases["classic script (DingtalkChatbot)"] = per_call(classic, calls)
    return cases


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--calls", type=int, default=100)
    args = parser.parse_args()
    print(_bench.machine())
    print(f"commit one report to the outbox: {commit_cost():.1f} us (median of 2,000)")
    with _bench.RemoteFake(secret="SECbench" + "0" * 56, rate_limit=10**9) as robot:
        assert robot.secret is not None
        cases = candidates(robot.webhook, robot.secret, args.calls)
        samples = _bench.interleave(cases, args.rounds)
        delivered = jobwatch.flush(120)
        messages, _requests = robot.records()
    print(f"failing calls: {args.calls} per round x {args.rounds} interleaved rounds;"
          " median microseconds per call on the job's thread")
    _bench.table(samples, "@jobwatch.monitor", "us/call", 1e6, "jobwatch")
    for peer in ("knockknock dingtalk_sender", "classic script (DingtalkChatbot)"):
        if peer not in samples:
            print(f"{peer}: not installed (pip install -e '.[bench]')")
    print(f"jobwatch's reports all delivered: {delivered}; FakeDingTalk accepted"
          f" {len(messages)} messages from all candidates")


if __name__ == "__main__":
    main()
