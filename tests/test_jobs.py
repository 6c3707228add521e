"""Watched jobs run as users run them: a Python script in a subprocess, reporting to FakeDingTalk.

Each script runs its work under ``watch()`` when WATCHED=1 and under ``nullcontext()`` otherwise,
so the two runs have the same traceback and can be compared byte for byte.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobwatch.testing import FakeDingTalk

JOB = """
import contextlib, os, sys
import jobwatch

def main():
    print("working", flush=True)
    {body}

watched = os.environ.get("WATCHED") == "1"
with (jobwatch.watch("e2e-job", {options}) if watched else contextlib.nullcontext()):
    main()
"""


@pytest.fixture
def robot() -> Iterator[FakeDingTalk]:
    with FakeDingTalk(secret="SECjobs-e2e-secret") as fake:
        yield fake


def run_job(
    tmp_path: Path, body: str, env: dict[str, str], *, watched: bool = True, options: str = ""
) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(JOB).format(body=body, options=options))
    clean = {k: v for k, v in os.environ.items() if not k.startswith("JOBWATCH_")}
    return subprocess.run(
        [sys.executable, str(script)],
        env={**clean, **env, "WATCHED": "1" if watched else "0"},
        capture_output=True, text=True, timeout=60, check=False,
    )


def test_failing_job_exits_as_without_jobwatch_and_reports(
    tmp_path: Path, robot: FakeDingTalk
) -> None:
    """Same exit status, stdout and stderr as unwatched; the report reaches the robot."""
    body = 'raise ValueError("bad row 42")'
    plain = run_job(tmp_path, body, robot.env(), watched=False)
    watched = run_job(tmp_path, body, robot.env())
    assert (watched.returncode, watched.stdout, watched.stderr) == (
        plain.returncode, plain.stdout, plain.stderr
    )
    assert plain.returncode == 1
    assert plain.stderr.endswith("ValueError: bad row 42\n")
    (message,) = robot.messages
    assert message["markdown"]["title"] == "程序执行情况: e2e-job 失败"
    assert "ValueError: bad row 42" in message["markdown"]["text"]


def test_network_down_adds_one_log_line_and_nothing_else(
    tmp_path: Path, robot: FakeDingTalk
) -> None:
    """With DingTalk unreachable the job's status and output are its own, plus one line."""
    body = 'raise ValueError("bad row 42")'
    plain = run_job(tmp_path, body, robot.env(), watched=False)
    dead = {**robot.env(), "JOBWATCH_WEBHOOK": robot.webhook.replace(f":{robot.port}/", ":1/"),
            "JOBWATCH_FLUSH_TIMEOUT": "2"}
    watched = run_job(tmp_path, body, dead)
    assert (watched.returncode, watched.stdout) == (plain.returncode, plain.stdout)
    extra = [line for line in watched.stderr.splitlines() if line.startswith("jobwatch: ")]
    rest = [line for line in watched.stderr.splitlines() if not line.startswith("jobwatch: ")]
    assert rest == plain.stderr.splitlines()
    assert len(extra) == 1
    assert robot.token not in watched.stderr


def test_rejected_report_adds_one_error_line(tmp_path: Path, robot: FakeDingTalk) -> None:
    """A wrong secret: the job is unaffected and one line says what DingTalk answered."""
    body = 'raise ValueError("bad row 42")'
    plain = run_job(tmp_path, body, robot.env(), watched=False)
    watched = run_job(tmp_path, body, {**robot.env(), "JOBWATCH_SECRET": "SECnot-the-right-one"})
    assert watched.returncode == plain.returncode
    extra = [line for line in watched.stderr.splitlines() if line.startswith("jobwatch: ")]
    assert [line[:48] for line in extra] == ["jobwatch: DingTalk refused the report of 'e2e-jo"]
    assert "errcode 310000: sign not match" in extra[0]
    assert watched.stderr.replace(extra[0] + "\n", "") == plain.stderr
    assert "SECnot-the-right-one" not in watched.stderr
    assert robot.messages == []


def test_sys_exit_code_is_kept_and_reported(tmp_path: Path, robot: FakeDingTalk) -> None:
    """sys.exit(3) in the block exits 3 and is reported as a failure with exit code 3."""
    result = run_job(tmp_path, "sys.exit(3)", robot.env())
    assert (result.returncode, result.stderr) == (3, "")
    (message,) = robot.messages
    assert "**退出码: 3**" in message["markdown"]["text"]


def test_success_sends_nothing_and_exits_zero(tmp_path: Path, robot: FakeDingTalk) -> None:
    """A successful job with the default policy exits 0 and sends nothing."""
    result = run_job(tmp_path, "pass", robot.env())
    assert (result.returncode, result.stdout, result.stderr) == (0, "working\n", "")
    assert robot.requests == []


def test_keyboard_interrupt_exits_as_python_does(tmp_path: Path, robot: FakeDingTalk) -> None:
    """An uncaught KeyboardInterrupt ends the process as it would unwatched; it is reported."""
    plain = run_job(tmp_path, "raise KeyboardInterrupt", robot.env(), watched=False)
    watched = run_job(tmp_path, "raise KeyboardInterrupt", robot.env())
    assert (watched.returncode, watched.stderr) == (plain.returncode, plain.stderr)
    (message,) = robot.messages
    assert message["markdown"]["title"] == "程序执行情况: e2e-job 被中断"


def test_dry_run_prints_the_report_after_a_notice(tmp_path: Path) -> None:
    """With no webhook, stderr shows the notice, the report, then Python's own traceback."""
    result = run_job(tmp_path, 'raise ValueError("bad row 42")', {})
    assert result.returncode == 1
    assert result.stderr.startswith("jobwatch: no webhook is configured")
    assert "----- jobwatch dry run: 程序执行情况: e2e-job 失败 -----" in result.stderr
    assert result.stderr.endswith("ValueError: bad row 42\n")


def test_overrun_timer_does_not_delay_exit(tmp_path: Path, robot: FakeDingTalk) -> None:
    """A job with an hour's timeout that ends at once exits at once, sending nothing."""
    result = run_job(tmp_path, "pass", robot.env(), options="timeout=3600")
    assert (result.returncode, result.stderr) == (0, "")
    assert robot.requests == []


def test_overrun_warning_is_sent_while_the_job_runs(tmp_path: Path, robot: FakeDingTalk) -> None:
    """A job that outlives its timeout sends one "still running" warning, then its result."""
    body = (  # the job blocks on a named pipe until the test has seen the warning arrive
        "open(os.environ['SEEN']).read(1)\n"
        "    raise RuntimeError('late')"
    )
    seen = tmp_path / "seen"
    os.mkfifo(seen)
    watcher_env = {**robot.env(), "SEEN": str(seen)}

    import threading

    def release_when_warned() -> None:
        for _ in range(2000):  # at most 20 s, then release the job anyway
            if robot.messages:
                break
            threading.Event().wait(0.01)
        with open(seen, "w") as pipe:
            pipe.write("x")

    marker = threading.Thread(target=release_when_warned)
    marker.start()
    result = run_job(tmp_path, body, watcher_env, options="timeout=0.2")
    marker.join()
    assert result.returncode == 1
    titles = [m["markdown"]["title"] for m in robot.messages]
    assert titles == ["程序执行情况: e2e-job 仍在运行", "程序执行情况: e2e-job 失败"]
