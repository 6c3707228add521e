"""Delivery through the outbox: nothing lost, the robot never throttled, the job never held.

Real SQLite files (each test has its own $XDG_STATE_HOME), real processes, FakeDingTalk.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import jobwatch
from jobwatch import delivery, monitor, outbox
from jobwatch.senders.signing import Webhook
from jobwatch.testing import FakeDingTalk, Fault


class JobError(Exception):
    pass


@monitor("loop-job")
def failing(n: int) -> None:
    raise JobError(f"failure number {n}")


def names_and_lines(robot: FakeDingTalk) -> list[str]:
    """Every report line the robot received: a single report's title, a digest's lines."""
    found = []
    for message in robot.messages:
        text = message["markdown"]["text"]
        if message["markdown"]["title"].startswith("程序执行情况:") and "条报告" in message[
            "markdown"
        ]["title"]:
            found += [line for line in text.split("\n") if line.startswith("- ")]
        else:
            found.append(message["markdown"]["title"])
    return found


def outbox_file() -> Path:
    return Path(outbox.default_path())


def robot_of(fake: FakeDingTalk) -> str:
    return outbox.robot_id(Webhook.parse(fake.webhook).token)


def fail_many(count: int) -> None:
    for n in range(count):
        with pytest.raises(JobError):
            failing(n)


def test_report_is_committed_before_the_block_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the watched call has raised, its report is already a row in the outbox file."""
    with FakeDingTalk() as robot:
        jobwatch.configure(webhook=robot.webhook)
        robot.fail_next(Fault(delay=1.0))  # keep the worker busy: the row must be there anyway
        fail_many(1)
        with contextlib.closing(sqlite3.connect(outbox_file())) as db:
            rows = db.execute("SELECT state, summary FROM messages").fetchall()
        assert len(rows) == 1
        assert json.loads(rows[0][1])["name"] == "loop-job"
        assert jobwatch.flush(10)


def test_a_burst_becomes_a_few_digests_and_nothing_is_lost() -> None:
    """1,000 failures queued at once arrive as a few digests that name every one of them."""
    with FakeDingTalk() as robot:
        jobwatch.configure(webhook=robot.webhook)
        robot.fail_next(Fault(delay=0.5))  # the first send is slow: the rest pile up
        fail_many(1000)
        assert jobwatch.flush(60)
        lines = names_and_lines(robot)
    numbers = Counter(line.rsplit("failure number ", 1)[1] for line in lines if "number" in line)
    assert sorted(int(n) for n in numbers) == list(range(1000))
    assert set(numbers.values()) == {1}
    assert len(robot.messages) <= 12
    assert all(r.errcode == 0 for r in robot.requests)
    uuids = [m["msgUuid"] for m in robot.messages]  # each digest its own idempotency key
    assert len(set(uuids)) == len(uuids)


def test_a_stream_is_coalesced_and_delivered_within_seconds() -> None:
    """200 failures from a loop while the worker runs: a few digests, delivered promptly."""
    with FakeDingTalk() as robot:
        jobwatch.configure(webhook=robot.webhook)
        started = time.monotonic()
        for n in range(200):
            with pytest.raises(JobError):
                failing(n)
            if n % 20 == 0:
                threading.Event().wait(0.01)  # a loop doing a little work between failures
        assert jobwatch.flush(30)
        elapsed = time.monotonic() - started
        assert len(robot.messages) <= 10
        assert sum(1 for line in names_and_lines(robot) if "failure number" in line) == 200
    assert elapsed < 20  # "within seconds"; far from a minute of waiting out the window


def test_throttled_robot_is_paused_for_every_process_and_nothing_lost() -> None:
    """130101 pauses the robot in the outbox; after the window the kept report is delivered."""
    with FakeDingTalk() as robot:
        jobwatch.configure(webhook=robot.webhook)
        robot.fail_next(Fault(errcode=130101, errmsg="send too fast"))
        fail_many(1)
        assert jobwatch.flush(1) is False
        store = delivery.get().outbox
        assert store.counts() == {"pending": 1}
        other = outbox.Outbox(str(outbox_file()))  # another process sees the pause
        try:
            wait, _slot = other.take_slot(robot_of(robot), time.time(), 18, 60)
        finally:
            other.close()
        assert 590 < wait <= 600
        store.pause(robot_of(robot), time.time() - 1, "window over")  # ten minutes later
        assert jobwatch.flush(10)
    assert len(robot.messages) == 1
    assert [r.errcode for r in robot.requests] == [130101, 0]


def test_permanent_refusal_is_dead_logged_once_and_not_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 310000 marks the report dead with one ERROR line; later flushes do not resend it."""
    with FakeDingTalk(secret="SECright") as robot:
        jobwatch.configure(webhook=robot.webhook, secret="SECwrong")
        fail_many(1)
        assert jobwatch.flush(10) is False
        assert jobwatch.flush(10) is True
        assert len(robot.requests) == 1
    (dead,) = delivery.get().outbox.dead_messages()
    assert (dead["name"], dead["errcode"]) == ("loop-job", 310000)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "check the signing secret" in errors[0].getMessage()


def test_outbox_file_holds_no_secret() -> None:
    """The outbox's bytes contain neither the token, the secret nor any sign sent."""
    with FakeDingTalk(secret="SECsecret-that-must-not-be-stored") as robot:
        jobwatch.configure(webhook=robot.webhook, secret=robot.secret)
        robot.fail_next(Fault(status=500))
        fail_many(3)
        assert jobwatch.flush(30)
        delivery.reset()  # close it, so the WAL is checkpointed into the file
        signs = {r.query["sign"] for r in robot.requests}
        token = robot.token
    data = b"".join(p.read_bytes() for p in outbox_file().parent.iterdir())
    for secret in (token, "SECsecret-that-must-not-be-stored", *signs):
        assert secret.encode() not in data
    assert os.stat(outbox_file()).st_mode & 0o777 == 0o600


def test_unwritable_outbox_falls_back_to_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An outbox path that cannot be created: one warning, the job unaffected, still sent."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    monkeypatch.setenv("JOBWATCH_OUTBOX", str(blocker / "outbox.sqlite3"))
    with FakeDingTalk() as robot:
        jobwatch.configure(webhook=robot.webhook)
        fail_many(2)
        assert jobwatch.flush(10)
        assert len(names_and_lines(robot)) >= 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "is unusable" in warnings[0]
    assert delivery.get().outbox.memory


def test_outbox_off_keeps_reports_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """JOBWATCH_OUTBOX=off: no file, same delivery within the process."""
    monkeypatch.setenv("JOBWATCH_OUTBOX", "off")
    with FakeDingTalk() as robot:
        jobwatch.configure(webhook=robot.webhook)
        fail_many(1)
        assert jobwatch.flush(10)
        assert len(robot.messages) == 1
    assert not outbox_file().exists()


def test_change_alerts_on_first_failure_and_recovery() -> None:
    """notify="change": fail, fail, succeed gives two alerts: the failure and the recovery."""
    with FakeDingTalk() as robot:
        jobwatch.configure(webhook=robot.webhook, notify="change", lang="en")

        @monitor("flaky")
        def job(fail: bool) -> None:
            if fail:
                raise JobError("down")

        for fail in (True, True, False, False):
            if fail:
                with pytest.raises(JobError):
                    job(fail)
            else:
                job(fail)
            assert jobwatch.flush(10)
        titles = [m["markdown"]["title"] for m in robot.messages]
    assert titles == ["Job report: flaky failed", "Job report: flaky recovered"]
    assert "recovered after 2 failed runs" in robot.messages[1]["markdown"]["text"]
    assert [r.status for r in jobwatch.history("flaky")] == [
        "success", "success", "failure", "failure"
    ]


# -- processes ----------------------------------------------------------------------------------

JOB = """
import os, signal, sys
import jobwatch

@jobwatch.monitor("proc-job")
def job():
    raise RuntimeError("job in process " + os.environ["JOB_ID"])

try:
    job()
except RuntimeError:
    if os.environ.get("DIE") == "1":
        os.kill(os.getpid(), signal.SIGKILL)
    raise
"""


def run_jobs(tmp_path: Path, env: dict[str, str], count: int, **extra: str) -> list[Any]:
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(JOB))
    base = {k: v for k, v in os.environ.items() if not k.startswith("JOBWATCH_")}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script)],
            env={**base, **env, "JOB_ID": str(n), **extra},
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        for n in range(count)
    ]
    results = []
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        results.append((proc.returncode, err))
    return results


def test_killed_job_report_is_delivered_by_the_next_flush(tmp_path: Path) -> None:
    """A job SIGKILLed after committing its report: the next flush delivers it, once."""
    with FakeDingTalk() as robot:
        ((code, _),) = run_jobs(tmp_path, robot.env(), 1, DIE="1")
        assert code == -signal.SIGKILL
        assert robot.requests == []
        jobwatch.configure(webhook=robot.webhook)
        assert jobwatch.flush(10)
        assert jobwatch.flush(10)
        assert [m["markdown"]["title"] for m in robot.messages] == [
            "程序执行情况: proc-job 失败"
        ]


def test_server_down_at_job_time_report_arrives_later(tmp_path: Path) -> None:
    """DingTalk unreachable: the job exits within the flush bound; a later flush delivers."""
    with FakeDingTalk() as robot:
        robot.fail_next(*[Fault(drop=True)] * 20)
        env = {**robot.env(), "JOBWATCH_FLUSH_TIMEOUT": "1"}
        started = time.monotonic()
        ((code, err),) = run_jobs(tmp_path, env, 1)
        assert time.monotonic() - started < 15  # 1 s flush bound + interpreter start
        assert code == 1
        assert err.count("jobwatch: ") == 1
        assert robot.messages == []
        robot.reset()  # the server is back
        jobwatch.configure(webhook=robot.webhook)
        assert jobwatch.flush(30)
        assert [m["markdown"]["title"] for m in robot.messages] == [
            "程序执行情况: proc-job 失败"
        ]


def test_thirty_processes_failing_at_once_never_throttle_the_robot(tmp_path: Path) -> None:
    """30 failing jobs at once: no 130101, at most 20 messages a minute, every job named."""
    with FakeDingTalk() as robot:
        results = run_jobs(tmp_path, {**robot.env(), "JOBWATCH_FLUSH_TIMEOUT": "20"}, 30)
        assert [code for code, _ in results] == [1] * 30
        jobwatch.configure(webhook=robot.webhook)
        assert jobwatch.flush(30)
        answers = [r.errcode for r in robot.requests]
        text = "\n".join(m["markdown"]["text"] for m in robot.messages)
    assert 130101 not in answers
    assert len(robot.messages) <= 20
    assert sorted(int(n) for n in set(_job_ids(text))) == list(range(30))


def _job_ids(text: str) -> list[str]:
    import re

    return re.findall(r"job in process (\d+)", text)


def test_forked_child_reports_on_its_own() -> None:
    """A child forked after the parent reported delivers its own report."""
    with FakeDingTalk() as robot:
        jobwatch.configure(webhook=robot.webhook)
        fail_many(1)
        assert jobwatch.flush(10)
        pid = os.fork()
        if pid == 0:  # the child: report, flush, and leave without running pytest's teardown
            code = 1
            try:
                with pytest.raises(JobError):
                    failing(99)
                code = 0 if jobwatch.flush(10) else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        lines = names_and_lines(robot)
    assert len(robot.messages) == 2
    assert lines == ["程序执行情况: loop-job 失败", "程序执行情况: loop-job 失败"]


def test_outbox_locked_for_long_falls_back_to_memory(caplog: pytest.LogCaptureFixture) -> None:
    """An outbox another process keeps locked: the report goes to memory and is still sent."""
    with FakeDingTalk() as robot:
        jobwatch.configure(webhook=robot.webhook)
        fail_many(1)
        assert jobwatch.flush(10)
        with contextlib.closing(sqlite3.connect(outbox_file(), isolation_level=None)) as other:
            other.execute("BEGIN IMMEDIATE")  # held longer than the busy timeout
            try:
                fail_many(1)
            finally:
                other.execute("ROLLBACK")
        assert jobwatch.flush(10)
        assert len(robot.messages) == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    expected = f"jobwatch: outbox {outbox_file()} became unusable"
    assert [w.split(" (")[0] for w in warnings] == [expected]
    assert delivery.get().outbox.memory


def test_rows_settled_by_another_process_end_the_wait() -> None:
    """A report that another process delivered (it claimed our pending rows) is no longer
    waited for: flush() returns True without this process sending anything."""
    with FakeDingTalk() as robot:
        jobwatch.configure(webhook=robot.webhook)
        store = delivery.get().outbox
        store.pause(robot_of(robot), time.time() + 600, "held for the test")
        fail_many(3)
        assert delivery.get().pending == 3
        other = outbox.Outbox(str(outbox_file()))
        try:
            ids = other.pending_ids([robot_of(robot)])
            other.delivered(ids, time.time())
        finally:
            other.close()
        assert jobwatch.flush(5) is True
        assert delivery.get().pending == 0
    assert robot.requests == []


def test_a_backlog_settles_as_another_process_delivers_it() -> None:
    """A backlog of 1,200 pending reports stops being waited for as another process delivers
    it (the worker looks at 500 rows a tick, going round)."""
    with FakeDingTalk() as robot:
        jobwatch.configure(webhook=robot.webhook)
        delivery.get().outbox.pause(robot_of(robot), time.time() + 600, "held for the test")
        fail_many(1200)
        worker = delivery.get()
        assert worker.pending == 1200
        other = outbox.Outbox(str(outbox_file()))
        try:
            ids = sorted(other.pending_ids([robot_of(robot)]))
            other.delivered(ids[:700], time.time())
            for _ in range(4):  # what the worker's tick does (it may also run meanwhile): four
                worker._settle_mine()  # windows of 500 go once round the 1,200 rows
            assert worker.pending == 500
            other.delivered(ids[700:], time.time())
        finally:
            other.close()
        assert jobwatch.flush(5) is True
    assert robot.requests == []


def test_rows_held_for_one_robot_do_not_hide_anothers_settled_rows() -> None:
    """600 reports of a paused robot, then 50 of a second robot that another process
    delivers: the 50 stop being waited for although 600 older rows are still pending."""
    with FakeDingTalk() as first, FakeDingTalk() as second:
        jobwatch.configure(webhook=first.webhook)
        worker = delivery.get()
        worker.outbox.pause(robot_of(first), time.time() + 600, "held for the test")
        worker.outbox.pause(robot_of(second), time.time() + 600, "held for the test")
        fail_many(600)
        jobwatch.configure(webhook=second.webhook)
        fail_many(50)
        assert worker.pending == 650
        other = outbox.Outbox(str(outbox_file()))
        try:
            other.delivered(other.pending_ids([robot_of(second)]), time.time())
        finally:
            other.close()
        for _ in range(3):  # windows of 500 go once round the 650 rows
            worker._settle_mine()
        assert worker.pending == 600
    assert first.requests == second.requests == []


def test_a_row_another_process_marked_dead_is_a_lost_report() -> None:
    """A report that another process's send got refused (dead) makes flush() False."""
    with FakeDingTalk() as robot:
        jobwatch.configure(webhook=robot.webhook)
        delivery.get().outbox.pause(robot_of(robot), time.time() + 600, "held for the test")
        fail_many(1)
        other = outbox.Outbox(str(outbox_file()))
        try:
            other.dead(other.pending_ids([robot_of(robot)]), time.time(), 310000, "refused")
        finally:
            other.close()
        assert jobwatch.flush(5) is False
        assert delivery.get().pending == 0
    assert robot.requests == []


def test_a_send_in_flight_settles_in_the_outbox_it_came_from() -> None:
    """If the outbox switches to memory while a report from the file is being sent, the send
    is settled in the file, not on the memory row that happens to have the same id."""
    from jobwatch.messages import from_payload

    with FakeDingTalk() as robot:
        jobwatch.configure(webhook=robot.webhook)
        worker = delivery.get()
        file_box, rid = worker.outbox, robot_of(robot)
        file_box.pause(rid, time.time() + 600, "held for the test")
        fail_many(1)
        _batch, rows = file_box.claim(rid, time.time(), 10, delivery.STALE)  # the worker's part
        worker._to_memory(OSError("the disk went away"))
        worker.outbox.pause(rid, time.time() + 600, "held for the test")
        fail_many(1)  # the memory outbox's row 1
        assert worker._send(file_box, rid, worker._sender(rid), from_payload(rows[0].payload),
                            rows[0].msg_uuid, rows, 0)
        assert file_box.states([rows[0].id]) == {rows[0].id: "delivered"}
        assert worker.outbox.counts() == {"pending": 1}
        assert worker.pending == 1
    assert len(robot.messages) == 1
