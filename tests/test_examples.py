"""The examples run as the README says, the way a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_quickstart_delivers_to_the_fake_robot() -> None:
    """examples/quickstart.py sends one signed message, accepted, without printing secrets."""
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py")],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert "DingTalk answered: errmsg='ok' after 1 attempt(s)" in done.stdout
    assert '"atMobiles": [\n      "13800000000"\n    ]' in done.stdout
    assert "SECexample-secret" not in done.stdout
    assert "sign=" not in done.stdout


def run_example(name: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBWATCH_")}
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True, text=True, timeout=60, check=False, env=env,
    )


def test_batch_job_runs_dry_and_fails_as_written() -> None:
    """examples/batch_job.py prints its dry-run report, then fails with its own traceback."""
    done = run_example("batch_job.py")
    assert (done.returncode, done.stdout) == (1, "loaded 3 rows\n")
    assert done.stderr.startswith("jobwatch: no webhook is configured")
    assert "----- jobwatch dry run: 程序执行情况: nightly-etl 失败 -----" in done.stderr
    assert "\n@13800000000\n-----\n" in done.stderr
    assert done.stderr.endswith("ValueError: row 2 is not a number: 'five'\n")


def test_script_block_reports_its_success() -> None:
    """examples/script_block.py succeeds and its dry run shows the note it added."""
    done = run_example("script_block.py")
    assert done.returncode == 0
    assert "----- jobwatch dry run: Job report: disk-report succeeded -----" in done.stderr
    assert "**free: " in done.stderr


def test_async_job_warns_then_fails() -> None:
    """examples/async_job.py reports an overrun while running, then its failure."""
    done = run_example("async_job.py")
    assert done.returncode == 1
    titles = [line for line in done.stderr.splitlines() if line.startswith("----- jobwatch")]
    assert titles == [
        "----- jobwatch dry run: 程序执行情况: sync-shards 仍在运行 -----",
        "----- jobwatch dry run: 程序执行情况: sync-shards 失败 -----",
    ]
