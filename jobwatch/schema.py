"""The outbox's SQL schema, apart from the code that uses it.

Its own module so that a process that only succeeded can append its runs to the history at
exit with nothing but sqlite3 (see runs.py), without loading the delivery machinery.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["KEEP_RUNS", "SCHEMA", "SCHEMA_VERSION", "TRIM_RUNS", "append_runs", "default_path"]

KEEP_RUNS = 1000  # runs kept per job name

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    robot TEXT NOT NULL,
    msg_uuid TEXT NOT NULL,
    payload TEXT NOT NULL,
    summary TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    created REAL NOT NULL,
    updated REAL NOT NULL,
    not_before REAL NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    batch TEXT,
    claimed_at REAL,
    claimed_by INTEGER,
    errcode INTEGER,
    error TEXT
);
CREATE INDEX IF NOT EXISTS messages_due ON messages (robot, state, not_before);
CREATE TABLE IF NOT EXISTS sends (robot TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS sends_robot ON sends (robot, at);
CREATE TABLE IF NOT EXISTS robots (robot TEXT PRIMARY KEY, paused_until REAL NOT NULL,
                                   reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    host TEXT NOT NULL,
    status TEXT NOT NULL,
    started REAL NOT NULL,
    duration REAL,
    exit_code INTEGER
);
CREATE INDEX IF NOT EXISTS runs_name ON runs (name, id);
"""

def append_runs(db: Any, runs: list[tuple[Any, ...]], keep: int = KEEP_RUNS) -> None:
    """Insert runs (name, host, status, started, duration, exit code) inside the caller's
    transaction, and keep only the newest ``keep`` of each job."""
    db.executemany(
        "INSERT INTO runs (name, host, status, started, duration, exit_code)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        runs,
    )
    for name in {r[0] for r in runs}:
        db.execute(TRIM_RUNS, (name, name, keep))


# Keep only the newest ``keep`` runs of one job: parameters (name, name, keep).
TRIM_RUNS = (
    "DELETE FROM runs WHERE name = ? AND id <= (SELECT id FROM runs WHERE name = ?"
    " ORDER BY id DESC LIMIT 1 OFFSET ?)"
)


def default_path() -> str:
    """``$XDG_STATE_HOME/jobwatch/outbox.sqlite3``, else ``~/.local/state/jobwatch/...``."""
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return os.path.join(state, "jobwatch", "outbox.sqlite3")
