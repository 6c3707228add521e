"""What each tool does to a failing job when DingTalk misbehaves: the README's comparison, run.

    python benchmarks/faults.py

The same script, a function that raises ValueError, is watched by jobwatch, by knockknock's
``dingtalk_sender`` and by the classic ``except`` block that posts the traceback with
DingtalkChatbot (peers: ``pip install -e '.[bench]'``). Each run is a fresh process whose last
failure goes uncaught, as in a real script. Scenarios, all on 127.0.0.1:

- ``unreachable``: nothing listens on the webhook's port (connection refused);
- ``hanging``: the server accepts the connection and never answers (runs are cut at 20 s);
- ``wrong secret``: a FakeDingTalk whose secret differs from the tool's (answers 310000);
- ``40 failures``: 40 failing calls in a row against a FakeDingTalk with DingTalk's real
  limit (20 messages a minute, then 130101 for ten minutes).

For each: how many times the job's own code ran, the exit status, the last line of stderr
(the exception the script died of), seconds, whether the access token or the secret appeared in the
output, and what reached the group. apprise is left out: its DingTalk address is fixed to
oapi.dingtalk.com, so it cannot be pointed at a local server.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import _bench

_bench.isolate()

from jobwatch.testing import FakeDingTalk  # noqa: E402

CHILD = r"""
import sys, traceback
tool, webhook, secret, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

def work(k):
    print("ran", k, flush=True)
    raise ValueError(f"row {k} has no id")

if tool == "jobwatch":
    import jobwatch
    jobwatch.configure(webhook=webhook, secret=secret, owners=["13800000000"])
    job = jobwatch.monitor("nightly-etl")(work)
elif tool == "knockknock":
    from knockknock import dingtalk_sender
    job = dingtalk_sender(webhook_url=webhook, secret=secret, user_mentions=["13800000000"])(work)
else:
    from dingtalkchatbot.chatbot import DingtalkChatbot
    def job(k):
        try:
            work(k)
        except Exception:
            DingtalkChatbot(webhook, secret=secret).send_markdown(
                "任务失败", traceback.format_exc(), at_mobiles=["13800000000"])
            raise

for k in range(count - 1):
    try:
        job(k)
    except ValueError:
        pass
job(count - 1)
"""
TOOLS = {
    "jobwatch": None,
    "knockknock": "knockknock",
    "classic (DingtalkChatbot)": "dingtalkchatbot",
}
TOKEN = "0123456789abcdef" * 4
SECRET = "SECright" + "1" * 56
CUT = 20.0
REPORTED = re.compile(r"row (\d+) has no id")
EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt)(: .*)?$")  # a traceback's end


@contextmanager
def hanging_server() -> Iterator[str]:
    """A webhook that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/robot/send?access_token={TOKEN}"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()


def closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/robot/send?access_token={TOKEN}"


def run(tool: str, webhook: str, count: int = 1) -> dict[str, str]:
    env = _bench.child_env(JOBWATCH_FLUSH_TIMEOUT="2")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, tool, webhook, SECRET, str(count)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        out, err = proc.communicate(timeout=CUT)
        status = str(proc.returncode)
        raised = [line for line in err.splitlines() if EXCEPTION.match(line)]
        last = raised[-1] if raised else ""
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        status, last = "-", f"still blocked after {CUT:.0f} s (killed)"
    leaked = TOKEN in out + err or SECRET in out + err
    return {
        "ran": f"{out.count('ran ')}/{count}",
        "exit": status,
        "died of": last[:70] + ("…" if len(last) > 70 else ""),
        "seconds": f"{time.perf_counter() - started:.1f}",
        "secret shown": "YES" if leaked else "no",
        "stderr": err,
    }


def show(title: str, rows: dict[str, dict[str, str]], extra: tuple[str, ...] = ()) -> None:
    print(f"\n{title}")
    columns = ("ran", "exit", "seconds", "secret shown", *extra, "died of")
    print(f"  {'tool':27}" + "".join(f"{c:>{max(len(c), 7) + 2}}" for c in columns[:-1])
          + "  the exception the script died of")
    for tool, row in rows.items():
        cells = "".join(f"{row[c]:>{max(len(c), 7) + 2}}" for c in columns[:-1])
        print(f"  {tool:27}{cells}  {row['died of']}")


def tools() -> list[str]:
    found = []
    for tool, module in TOOLS.items():
        if module is None or _bench.have(module):
            found.append(tool)
        else:
            print(f"{tool}: not installed (pip install -e '.[bench]')")
    return found


def main() -> None:
    print(_bench.machine())
    names = tools()
    show("DingTalk unreachable (connection refused):",
         {t: run(t, closed_port()) for t in names})
    with hanging_server() as webhook:
        show("DingTalk accepts the connection and never answers:",
             {t: run(t, webhook) for t in names})
    rows = {}
    for tool in names:
        with FakeDingTalk(token=TOKEN, secret="SECwrong" + "2" * 56) as robot:
            row = run(tool, robot.webhook)
            row["310000 said"] = "yes" if "310000" in row.pop("stderr") else "no"
            rows[tool] = row
    show("Wrong secret (DingTalk answers 310000 with HTTP 200):", rows, ("310000 said",))
    rows = {}
    for tool in names:
        with FakeDingTalk(token=TOKEN, secret=SECRET) as robot:
            row = run(tool, robot.webhook, count=40)
            found = {m for msg in robot.messages
                     for m in REPORTED.findall(str(msg.get("markdown") or msg.get("text")))}
            row["messages"] = str(len(robot.messages))
            row["130101s"] = str(sum(r.errcode == 130101 for r in robot.requests))
            row["failures in group"] = f"{len(found)}/40"
            rows[tool] = row
    show("40 failing calls in a row (DingTalk's real limit: 20 a minute, then 10 minutes of"
         " 130101):", rows, ("messages", "130101s", "failures in group"))


if __name__ == "__main__":
    main()
