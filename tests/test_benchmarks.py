"""The benchmark scripts run, with tiny sizes, and what they check holds (not their timings:
those are measured by running the scripts, see docs/benchmarks.md). The peers of the bench
extra are not needed: without them the scripts leave their rows out and say so."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def bench(script: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBWATCH_")}
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True, text=True, timeout=300, check=False, env=env,
    )
    assert (done.returncode, done.stderr) == (0, "")
    return done.stdout


def test_import_cost_loads_nothing_heavy() -> None:
    """The watched script loads no heavy module that the interpreter did not load anyway
    (outside a virtualenv, site-packages' .pth files may import typing at every start)."""
    out = bench("import_cost.py", "--runs", "1")
    assert "script with @jobwatch.monitor" in out
    line = next(x for x in out.splitlines() if x.startswith("heavy modules loaded"))
    match = re.fullmatch(r"heavy modules .*: (\S+) \(by the interpreter itself: (\S+)\)", line)
    assert match is not None
    ours, interpreter = (set(group.split(",")) - {"none"} for group in match.groups())
    assert ours <= interpreter


def test_success_path_prints_the_ratio() -> None:
    out = bench("success_path.py", "--number", "1000", "--rounds", "2")
    assert "@jobwatch.monitor / minimal wrapper = " in out


def test_sends_are_all_accepted() -> None:
    out = bench("sends.py", "--rounds", "1", "--count", "5")
    assert "jobwatch DingTalkSender" in out
    assert "refused 0" in out


def test_failure_path_delivers_every_report() -> None:
    out = bench("failure_path.py", "--rounds", "1", "--calls", "5")
    assert "jobwatch's reports all delivered: True" in out


def test_burst_delivers_all_without_throttling() -> None:
    out = bench("burst.py")
    assert out.count("reports delivered: 1,000 of 1,000 (all; every flush() said delivered)") == 2
    assert out.count("130101 answers: 0") == 2


def test_memory_reads_rss_at_checkpoints() -> None:
    out = bench("memory.py", "--calls", "2000")
    assert "growth from 1,000 to 2,000 failing calls" in out
    assert "130101 answers: 0" in out


def test_cli_run_prints_the_ratio() -> None:
    out = bench("cli_run.py", "--runs", "1")
    assert "jobwatch run -- true / python -c pass = " in out


def test_faults_leave_the_job_its_own_error_and_show_no_secret() -> None:
    """In all four situations the script dies of its own ValueError, the job ran, and no
    token or secret was printed; the 40 failures all reach the group."""
    out = bench("faults.py")
    rows = [line.split() for line in out.splitlines() if line.startswith("  jobwatch ")]
    assert [row[1:3] for row in rows] == [["1/1", "1"]] * 3 + [["40/40", "1"]]
    assert [row[4] for row in rows] == ["no"] * 4
    assert [" ".join(row[-6:]) for row in rows] == [
        "ValueError: row 0 has no id"] * 3 + ["ValueError: row 39 has no id"]
    assert rows[2][5] == "yes"  # the wrong secret: 310000 was said
    assert rows[3][5:8] == ["1", "0", "40/40"]  # one message, no 130101, all 40 in it
