"""200 signed sends: DingTalkSender against the floor, the classic script and DingtalkChatbot.

    python benchmarks/sends.py [--rounds 7] [--count 200]

Every candidate signs every request with a fresh timestamp (加签) and checks DingTalk's errcode;
all go to one FakeDingTalk with a secret, in a process of its own on 127.0.0.1, its rate limit
raised for this run. Candidates:

- ``requests.Session loop``: the floor. One keep-alive session, sign, post, read errcode.
- ``DingTalkSender``: jobwatch's sender (retries, deadline, msgUuid, scrubbed errors included).
- ``requests.post per message``: what the classic alert script does: a new connection and a
  new session per message.
- ``DingtalkChatbot``: the PyPI package (``pip install -e '.[bench]'``). Its own limiter sleeps
  61 s before the 20th message of a minute, so it gets a new instance every 19 messages.

Targets (the sender issue): DingTalkSender <= 1.15x the floor and <= 0.75x the classic script.
Loopback saves no TLS handshake, so against the real service the classic script loses more.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from urllib.parse import quote_plus

import _bench
import requests

_bench.isolate()

from jobwatch import DingTalkSender, Markdown  # noqa: E402

TITLE = "任务失败: nightly-etl"
TEXT = (
    "### ❌ nightly-etl 失败\n\n**执行情况: 失败**  \n**服务器: etl-01 (pid 4242)**  \n"
    "**异常信息: ValueError: row 17 has no id**\n\n" + "> Traceback line\n" * 40
)
BODY = {"msgtype": "markdown", "markdown": {"title": TITLE, "text": TEXT}}
HEADERS = {"Content-Type": "application/json; charset=utf-8"}


def signed(webhook: str, secret: str) -> str:
    timestamp = int(time.time() * 1000)
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256)
    sign = quote_plus(base64.b64encode(digest.digest()))
    return f"{webhook}&timestamp={timestamp}&sign={sign}"


def check(answer: dict[str, object]) -> None:
    if answer.get("errcode") != 0:
        raise RuntimeError(f"DingTalk answered {answer}")


def candidates(webhook: str, secret: str, count: int) -> dict[str, Callable[[], float]]:
    session = requests.Session()
    sender = DingTalkSender(webhook, secret=secret)
    message = Markdown(TITLE, TEXT)

    def floor() -> float:
        started = time.perf_counter()
        for _ in range(count):
            body = json.dumps(BODY, ensure_ascii=False).encode()
            with session.post(signed(webhook, secret), data=body, headers=HEADERS,
                              timeout=10) as response:
                check(response.json())
        return (time.perf_counter() - started) / count

    def jobwatch_sender() -> float:
        started = time.perf_counter()
        for _ in range(count):
            sender.send(message)
        return (time.perf_counter() - started) / count

    def classic() -> float:
        started = time.perf_counter()
        for _ in range(count):
            check(requests.post(signed(webhook, secret), json=BODY, timeout=10).json())
        return (time.perf_counter() - started) / count

    cases = {
        "requests.Session loop (floor)": floor,
        "jobwatch DingTalkSender": jobwatch_sender,
        "requests.post per message": classic,
    }
    if _bench.have("dingtalkchatbot"):
        from dingtalkchatbot.chatbot import DingtalkChatbot

        def chatbot() -> float:
            elapsed = 0.0
            for first in range(0, count, 19):
                bot = DingtalkChatbot(webhook, secret=secret)  # its limiter starts afresh
                started = time.perf_counter()
                for _ in range(min(19, count - first)):
                    check(bot.send_markdown(TITLE, TEXT))
                elapsed += time.perf_counter() - started
            return elapsed / count

        cases["DingtalkChatbot"] = chatbot
    return cases


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args()
    print(_bench.machine())
    cpu: dict[str, list[float]] = {}

    def timed(name: str, case: Callable[[], float]) -> Callable[[], float]:
        def run() -> float:
            started = time.process_time()
            wall = case()
            cpu.setdefault(name, []).append((time.process_time() - started) / args.count)
            return wall

        return run

    with _bench.RemoteFake(secret="SECbench" + "0" * 56, rate_limit=10**9) as robot:
        assert robot.secret is not None
        cases = candidates(robot.webhook, robot.secret, args.count)
        samples = _bench.interleave({n: timed(n, c) for n, c in cases.items()}, args.rounds)
        messages, requests_seen = robot.records()
    print(f"{args.count} signed sends per candidate x {args.rounds} interleaved rounds")
    print("wall time per message, microseconds (FakeDingTalk's own time included):")
    medians = _bench.table(samples, "requests.Session loop (floor)", "us/msg", 1e6, "floor")
    print("CPU time of the sending process per message, microseconds:")
    _bench.table({n: v[1:] for n, v in cpu.items()}, "requests.Session loop (floor)",
                 "cpu us/msg", 1e6, "floor")
    ours = medians["jobwatch DingTalkSender"]
    print(f"DingTalkSender / floor = {ours / medians['requests.Session loop (floor)']:.2f}x"
          f" (target <= 1.15x); / requests.post per message ="
          f" {ours / medians['requests.post per message']:.2f}x (target <= 0.75x)")
    if "DingtalkChatbot" not in medians:
        print("DingtalkChatbot: not installed (pip install -e '.[bench]')")
    refused = sum(code != 0 for _at, code in requests_seen)
    print(f"FakeDingTalk accepted {len(messages)} messages, refused {refused}")


if __name__ == "__main__":
    main()
