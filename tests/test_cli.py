"""The jobwatch command line, run the way a user runs it: subprocesses against FakeDingTalk."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest

from jobwatch.testing import FakeDingTalk, Fault


@pytest.fixture
def robot() -> Iterator[FakeDingTalk]:
    with FakeDingTalk(secret="SECcli-tests-secret") as fake:
        yield fake


def env_for(robot: FakeDingTalk | None, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("JOBWATCH_")}
    return {**base, **(robot.env() if robot else {}), **extra}


def jobwatch(
    *args: str, robot: FakeDingTalk | None = None, stdin: str | None = None, **extra: str
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "jobwatch", *args], env=env_for(robot, **extra),
        input=stdin.encode() if stdin is not None else None,
        capture_output=True, timeout=60, check=False,
    )


def test_version_via_python_dash_m() -> None:
    """python -m jobwatch --version prints the package version and exits 0."""
    done = jobwatch("--version")
    assert (done.returncode, done.stdout, done.stderr) == (
        0, f"jobwatch {version('jobwatch')}\n".encode(), b""
    )


def test_help_wraps_at_columns_without_importing_shutil() -> None:
    """--help is laid out for $COLUMNS, and building the parser does not import shutil (and
    with it lzma and bz2: 4 ms of every `jobwatch run`)."""
    done = jobwatch("run", "--help", COLUMNS="60")
    assert done.returncode == 0
    lines = done.stdout.decode().splitlines()
    assert lines[0].startswith("usage: jobwatch run")
    body = lines[lines.index("") :]  # after the usage lines (whose tokens argparse never cuts)
    assert 50 <= max(len(line) for line in body) <= 58
    wide = jobwatch("run", "--help", COLUMNS="120").stdout.decode().splitlines()
    assert max(len(line) for line in wide[wide.index("") :]) > 80
    probe = subprocess.run(
        [sys.executable, "-c", "import sys; from jobwatch import cli;"
         " sys.modules.pop('shutil', None); cli._parser(); print('shutil' in sys.modules)"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    assert probe.stdout == "False\n"


def test_unknown_option_is_a_usage_error() -> None:
    """An unknown option exits 2 with a usage message on stderr."""
    done = jobwatch("--bogus")
    assert done.returncode == 2
    assert done.stderr == (
        b"jobwatch: error: unrecognized arguments: --bogus (see `jobwatch --help`)\n"
    )


def test_run_without_a_command_is_a_usage_error() -> None:
    """`jobwatch run --` with nothing after it exits 2."""
    done = jobwatch("run", "--")
    assert done.returncode == 2
    assert done.stderr == (
        b"jobwatch run: error: run needs a command after -- (see `jobwatch run --help`)\n"
    )


@pytest.mark.parametrize(
    ("script", "status"),
    [("exit 0", 0), ("exit 3", 3), ("kill -TERM $$", 143)],
)
def test_run_exits_with_the_commands_status(
    robot: FakeDingTalk, script: str, status: int
) -> None:
    """jobwatch run exits with CMD's status, 128+N when CMD was killed by signal N."""
    done = jobwatch("run", "--", "sh", "-c", script, robot=robot)
    assert done.returncode == status


def test_command_not_found_is_127_and_reported(robot: FakeDingTalk) -> None:
    """A missing command: exit 127, one clear line, and a failure report."""
    done = jobwatch("run", "--", "no-such-command-here", robot=robot)
    assert done.returncode == 127
    assert done.stderr.decode().splitlines()[0] == (
        "jobwatch: command not found: no-such-command-here"
    )
    (message,) = robot.messages
    assert "CommandFailed: command not found: no-such-command-here" in message["markdown"]["text"]


def test_not_executable_is_126(robot: FakeDingTalk, tmp_path: Path) -> None:
    """A file that cannot be executed: exit 126."""
    script = tmp_path / "not-executable.sh"
    script.write_text("echo hi\n")
    done = jobwatch("run", "--", str(script), robot=robot)
    assert done.returncode == 126
    assert b"jobwatch: command not executable:" in done.stderr


def test_killed_command_is_reported_with_its_signal(robot: FakeDingTalk) -> None:
    """A command that kills itself with SIGTERM is reported as killed by SIGTERM, status 143."""
    jobwatch("run", "--name", "self-kill", "--", "sh", "-c", "kill -TERM $$", robot=robot)
    (message,) = robot.messages
    assert message["markdown"]["title"] == "程序执行情况: self-kill 失败"
    assert "killed by SIGTERM (exit status 143)" in message["markdown"]["text"]


def test_output_passes_through_byte_for_byte(robot: FakeDingTalk) -> None:
    """stdout and stderr reach the caller unchanged, binary bytes included."""
    script = "printf 'a\\000\\377b\\n'; printf 'err\\001\\n' >&2"
    done = jobwatch("run", "--", "sh", "-c", script, robot=robot)
    assert (done.returncode, done.stdout) == (0, b"a\x00\xffb\n")
    assert done.stderr == b"err\x01\n"


def test_output_is_streamed_before_the_command_ends(robot: FakeDingTalk) -> None:
    """Output printed before a long sleep is seen while the command still runs."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobwatch", "run", "--", "sh", "-c", "echo early; sleep 30"],
        env=env_for(robot), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"early\n"
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


def test_sigterm_is_forwarded_to_the_command(robot: FakeDingTalk, tmp_path: Path) -> None:
    """SIGTERM sent to jobwatch run reaches CMD, which traps it; jobwatch exits as CMD does."""
    marker = tmp_path / "trapped"
    script = (
        f"trap 'echo got-term > {marker}; exit 7' TERM; echo ready;"
        " while :; do sleep 0.05; done"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobwatch", "run", "--", "sh", "-c", script],
        env=env_for(robot), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 7
    assert marker.read_text() == "got-term\n"


def test_failure_report_holds_the_stderr_tail(robot: FakeDingTalk) -> None:
    """The report of a failed command carries the end of its stderr, within --tail-bytes."""
    script = "i=0; while [ $i -lt 300 ]; do echo line-$i >&2; i=$((i+1)); done; exit 4"
    jobwatch("run", "--name", "noisy", "--tail-bytes", "200", "--", "sh", "-c", script,
             robot=robot)
    (message,) = robot.messages
    text = message["markdown"]["text"]
    assert "line-299" in text
    assert "line-250" not in text
    assert "**退出码: 4**" in text
    assert "**command: sh -c 'i=0; while" in text


def test_successful_command_sends_nothing(robot: FakeDingTalk) -> None:
    """`jobwatch run -- true` with the default policy sends nothing."""
    done = jobwatch("run", "--", "true", robot=robot)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    assert robot.requests == []


def test_test_command_with_a_good_secret(robot: FakeDingTalk) -> None:
    """`jobwatch test` says DingTalk answered errcode 0 and exits 0."""
    done = jobwatch("test", robot=robot)
    assert done.returncode == 0
    assert done.stdout.decode().startswith("DingTalk answered errcode 0: ok.")
    assert len(robot.messages) == 1


def test_test_command_with_a_wrong_secret(robot: FakeDingTalk) -> None:
    """A wrong secret: errcode 310000 explained, non-zero exit, no secret printed."""
    done = jobwatch("test", robot=robot, JOBWATCH_SECRET="SECthe-wrong-secret")
    out = done.stdout.decode() + done.stderr.decode()
    assert done.returncode == 1
    assert out.splitlines()[0] == "DingTalk answered errcode 310000: sign not match"
    assert "JOBWATCH_SECRET must be the robot's signing secret" in out
    for secret in ("SECthe-wrong-secret", "SECcli-tests-secret", robot.token):
        assert secret not in out


def test_test_command_explains_a_keyword(robot: FakeDingTalk) -> None:
    """A robot that wants a keyword: the explanation names JOBWATCH_KEYWORD."""
    robot.fail_next(Fault(errcode=310000, errmsg="keywords not in content"))
    done = jobwatch("test", robot=robot)
    assert done.returncode == 1
    assert "set JOBWATCH_KEYWORD" in done.stdout.decode()


def test_send_reads_stdin(robot: FakeDingTalk) -> None:
    """`jobwatch send -` sends stdin as a markdown message, with mentions."""
    done = jobwatch("send", "--title", "backup", "--at", "13800000000", "-", robot=robot,
                    stdin="## backup done\n\n42 files")
    assert done.returncode == 0
    (message,) = robot.messages
    assert message["markdown"]["title"] == "backup"
    assert message["markdown"]["text"] == "## backup done\n\n42 files\n\n@13800000000"
    assert message["at"] == {"atMobiles": ["13800000000"], "isAtAll": False}


def test_flush_counts_and_exit_status(robot: FakeDingTalk) -> None:
    """flush prints delivered/pending/dead and fails while something is still pending."""
    robot.fail_next(*[Fault(drop=True)] * 30)
    jobwatch("run", "--", "false", robot=robot, JOBWATCH_FLUSH_TIMEOUT="0.5")
    stuck = jobwatch("flush", "--timeout", "1", robot=robot)
    assert (stuck.returncode, stuck.stdout) == (1, b"delivered 0, pending 1, dead 0\n")
    robot.reset()
    done = jobwatch("flush", "--timeout", "20", robot=robot)
    assert (done.returncode, done.stdout) == (0, b"delivered 1, pending 0, dead 0\n")
    assert len(robot.messages) == 1


def test_history_lists_runs(robot: FakeDingTalk) -> None:
    """history shows recent runs in an aligned table, newest first."""
    jobwatch("run", "--name", "nightly", "--", "true", robot=robot)
    jobwatch("run", "--name", "nightly", "--", "sh", "-c", "exit 5", robot=robot)
    done = jobwatch("history", "--name", "nightly", robot=robot)
    lines = done.stdout.decode().splitlines()
    assert done.returncode == 0
    assert lines[0].split() == ["time", "name", "host", "status", "duration", "exit"]
    rows = [line.split() for line in lines[1:]]
    assert [(r[2], r[4]) for r in rows] == [("nightly", "failure"), ("nightly", "success")]
    assert (len(rows[0]), rows[0][-1], len(rows[1])) == (7, "5", 6)



def test_reader_going_away_stops_the_command(robot: FakeDingTalk) -> None:
    """`jobwatch run -- yes | head -1` ends: CMD meets the closed pipe as it would alone."""
    done = subprocess.run(  # noqa: S602 - the pipe to head is the subject
        f"{sys.executable} -m jobwatch run -- yes | head -1", shell=True,
        env=env_for(robot), capture_output=True, timeout=30, check=False,
    )
    assert (done.returncode, done.stdout) == (0, b"y\n")


def test_same_file_keeps_the_order_of_stdout_and_stderr(
    robot: FakeDingTalk, tmp_path: Path
) -> None:
    """With stdout and stderr on one file (`>>log 2>&1`), lines keep CMD's order."""
    log = tmp_path / "job.log"
    script = "for i in 1 2 3; do echo o$i; echo e$i >&2; done"
    with open(log, "wb") as out:
        subprocess.run([sys.executable, "-m", "jobwatch", "run", "--", "sh", "-c", script],
                       env=env_for(robot), stdout=out, stderr=out, timeout=30, check=True)
    assert log.read_bytes() == b"o1\ne1\no2\ne2\no3\ne3\n"


def test_passwords_in_the_command_line_are_masked(robot: FakeDingTalk) -> None:
    """--password=..., --token X and URL passwords do not reach the report."""
    jobwatch("run", "--name", "db", "--", "sh", "-c", "exit 2", "x", "--password=hunter2",
             "--token", "tok3n", "postgres://user:pa55@db/x", robot=robot)
    text = robot.messages[0]["markdown"]["text"]
    for secret in ("hunter2", "tok3n", "pa55"):
        assert secret not in text
    assert "postgres://user:\\*\\*\\*@db/x" in text
