"""Run history: every watched run is recorded; ``notify="change"`` decides from it.

A successful run is only appended to an in-memory buffer on the job's thread (no SQLite, no
system call); the delivery worker, or the process at exit, writes the buffer to the outbox in
one small transaction. A failed run is committed before the watched block returns. The last
state of each job is read from the outbox once per job name and process, then kept here.

Imported on the decoration path, so it imports nothing costly at module level.
"""

from __future__ import annotations

import atexit
import os
import time
from _thread import allocate_lock

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections import deque
    from collections.abc import Callable
    from typing import Any
else:
    from _collections import deque  # collections' own deque, without importing collections

__all__ = ["RunRecord", "buffered", "decide", "success"]

LIMIT = 10_000  # successes kept in memory until written: the newest (history keeps 1,000 a job)
_SUCCESSES: deque[tuple[str, float, float]] = deque(maxlen=LIMIT)  # (name, perf start, end)
_LAST: dict[str, tuple[str, int]] = {}  # name -> (last final status, failures in a row)
_perf = time.perf_counter
_DRAIN = allocate_lock()


def success(name: str, perf: float, end: float) -> None:
    """Buffer one successful run (the hot path: an append; when the buffer is full, because
    no worker has written it, the oldest run makes room)."""
    _SUCCESSES.append((name, perf, end))


def buffered(host: str) -> list[tuple[Any, ...]]:
    """Take the buffered successes as outbox run rows (name, host, status, started, ...)."""
    with _DRAIN:  # appends need no lock (deque.append is atomic); two takers would
        taken = [_SUCCESSES.popleft() for _ in range(len(_SUCCESSES))]
    wall, now = time.time(), _perf()
    return [(name, host, "success", wall - (now - start), end - start, None)
            for name, start, end in taken]


def decide(name: str, status: str, load: Callable[[], list[str]]) -> tuple[bool, int | None]:
    """For notify="change": whether this run's outcome is worth a message, and after how many
    failures it recovered. ``load`` gives the job's recorded statuses, newest first."""
    before = _LAST.get(name)
    if before is None:
        statuses = load()
        failures = 0
        for recorded in statuses:
            if recorded == "success":
                break
            failures += 1
        before = (statuses[0] if statuses else "none", failures)
    failures = before[1]
    if status == "success":
        _LAST[name] = ("success", 0)
        return failures > 0, failures or None
    _LAST[name] = (status, failures + 1)
    return failures == 0, None


class RunRecord:
    """One recorded run of a job."""

    __slots__ = ("duration", "exit_code", "host", "name", "started", "status")

    def __init__(self, name: str, host: str, status: str, started: float,
                 duration: float | None, exit_code: int | None) -> None:
        self.name, self.host, self.status = name, host, status
        self.started, self.duration, self.exit_code = started, duration, exit_code

    def __repr__(self) -> str:
        return (f"RunRecord(name={self.name!r}, status={self.status!r}, host={self.host!r},"
                f" started={self.started!r}, duration={self.duration!r},"
                f" exit_code={self.exit_code!r})")


def _write_at_exit() -> None:
    """Write the buffered successes. A process that only succeeded never loaded delivery, and
    need not: one INSERT through sqlite3 into an existing outbox costs a few milliseconds,
    loading delivery (messages, senders, logging, ...) tens of them."""
    if not _SUCCESSES:
        return
    try:
        import sys

        delivery = sys.modules.get("jobwatch.delivery")
        if delivery is not None and getattr(delivery, "_delivery", None) is not None:
            return  # a running delivery's exit handler writes them, with its outbox
        if not _write_lean():
            from .config import resolve
            from .outbox import Outbox
            from .schema import default_path

            store = Outbox(resolve().outbox or default_path())
            try:
                store.record_runs(buffered(os.uname().nodename if hasattr(os, "uname") else "?"))
            finally:
                store.close()
    except Exception:  # noqa: BLE001, S110 - history is best effort at exit
        pass


def _write_lean() -> bool:
    """Append the buffered runs to an existing outbox file of the current schema; False when
    there is none (then the full outbox code creates or migrates it)."""
    from .config import resolve

    path = resolve().outbox
    if path is not None and path.strip().lower() in ("off", "memory", ":memory:"):
        _SUCCESSES.clear()  # an in-memory outbox dies with the process
        return True
    from .schema import SCHEMA_VERSION, append_runs, default_path

    path = path or default_path()
    if not os.path.isfile(path):
        return False
    import sqlite3


    db = sqlite3.connect(path, timeout=1.0, isolation_level=None)  # within the exit budget
    try:
        if db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            return False
        host = os.uname().nodename if hasattr(os, "uname") else "unknown"
        rows = buffered(host)
        db.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at the next checkpoint, no fsync
        db.execute("BEGIN IMMEDIATE")
        append_runs(db, rows)
        db.execute("COMMIT")
    finally:
        db.close()
    return True


def _forget_in_child() -> None:
    """A forked child records its own runs; the parent's buffer is the parent's to write. The
    lock is made anew: another thread of the parent may have held it at the fork."""
    global _DRAIN
    _DRAIN = allocate_lock()
    _SUCCESSES.clear()


atexit.register(_write_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)
