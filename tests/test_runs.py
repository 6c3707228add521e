"""Run history in memory: the success buffer and the notify="change" decisions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from jobwatch import runs


def test_buffer_keeps_the_newest_when_full() -> None:
    """A full success buffer lets its oldest runs go, so the newest LIMIT are recorded."""
    for n in range(runs.LIMIT + 10):
        runs.success(f"job{n}", float(n), float(n) + 0.5)
    rows = runs.buffered("host-1")
    assert len(rows) == runs.LIMIT
    assert rows[-1][0] == f"job{runs.LIMIT + 9}"
    assert rows[0][0] == "job10"
    assert runs.buffered("host-1") == []


def test_buffered_rows_are_history_rows() -> None:
    """A buffered success becomes (name, host, "success", started, duration, None)."""
    runs.success("etl", 10.0, 12.5)
    ((name, host, status, started, duration, code),) = runs.buffered("web-1")
    assert (name, host, status, duration, code) == ("etl", "web-1", "success", 2.5, None)
    assert started > 0


def test_change_alerts_on_first_failure_and_recovery_only() -> None:
    """fail, fail, succeed, succeed, fail: alerts on the first failure, the recovery (after 2)
    and the next first failure."""
    decisions = [
        runs.decide("job", s, lambda: [])
        for s in ("failure", "failure", "success", "success", "failure")
    ]
    assert decisions == [(True, None), (False, None), (True, 2), (False, None), (True, None)]


def test_change_starts_from_the_recorded_history() -> None:
    """The first decision of a process reads the recorded statuses (newest first) once."""
    loads: list[int] = []

    def load() -> list[str]:
        loads.append(1)
        return ["failure", "failure", "failure", "success"]

    assert runs.decide("batch", "success", load) == (True, 3)
    assert runs.decide("batch", "failure", load) == (True, None)
    assert loads == [1]


def test_first_run_that_fails_alerts() -> None:
    """A job with no history whose first run fails gets an alert."""
    assert runs.decide("new-job", "interrupted", lambda: []) == (True, None)


def test_watched_successes_past_a_full_buffer_are_kept() -> None:
    """The @monitor success path keeps the newest runs when its buffer is full (a long-lived
    process that never failed, so no worker wrote it): a run after 10,000 others is recorded."""
    import jobwatch

    @jobwatch.monitor("busy-job")
    def busy() -> None:
        pass

    @jobwatch.monitor("rare-job")
    def rare() -> None:
        pass

    for _ in range(runs.LIMIT):
        busy()
    rare()
    rows = runs.buffered("host-1")
    assert [r[0] for r in rows[-2:]] == ["busy-job", "rare-job"]
    assert len(rows) == runs.LIMIT


def test_forked_child_gets_a_free_drain_lock() -> None:
    """A child forked while another thread of the parent held the buffer's lock can still
    take it (else its worker and its exit would wait for ever)."""
    import os

    with runs._DRAIN:
        pid = os.fork()
        if pid == 0:  # the child: report by exit status only
            os._exit(0 if runs._DRAIN.acquire(blocking=False) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_successes_are_written_at_exit_when_delivery_is_loaded_but_idle(tmp_path: Path) -> None:
    """A process that imported jobwatch.delivery but never failed (no Delivery made) still
    writes its successes to the history at exit."""
    script = (
        "import jobwatch, jobwatch.delivery\n"
        "@jobwatch.monitor('idle-delivery-job')\n"
        "def job():\n    return 1\n"
        "for _ in range(5):\n    job()\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBWATCH_")}
    env["XDG_STATE_HOME"] = str(tmp_path)
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)
    history = subprocess.run(
        [sys.executable, "-c", "import jobwatch\n"
         "print(len(jobwatch.history('idle-delivery-job', 100)))"],
        env=env, check=True, timeout=60, capture_output=True, text=True,
    )
    assert history.stdout == "5\n"
