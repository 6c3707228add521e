"""The outbox: every report is committed here before it is sent, so none is ever lost.

One SQLite file per host (WAL, a busy timeout), shared by every process that uses jobwatch:
rows of messages (pending, sending, delivered or dead), the sends of the last minute per robot
(the host-wide rate budget) and each robot's penalty window. ``:memory:`` gives the same
behaviour within one process (``JOBWATCH_OUTBOX=off``, or a fallback when the file is unusable).

No secret is ever written: a robot is named by a digest of its access token, and a message is
stored without keyword, msgUuid or signature. Write transactions are ``BEGIN IMMEDIATE`` so two
processes can never both take the last slot of the budget.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .schema import KEEP_RUNS, SCHEMA, SCHEMA_VERSION, append_runs, default_path

__all__ = ["SCHEMA_VERSION", "Outbox", "Row", "batch_id", "default_path", "robot_id"]

_MIGRATIONS = {0: SCHEMA}  # from version N to N+1, applied in order; 0: a new file


def robot_id(token: str) -> str:
    """A robot's name in the outbox: a digest of its token, never the token itself."""
    return hashlib.sha256(b"jobwatch-robot:" + token.encode()).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class Row:
    """A message taken from the outbox to be sent."""

    id: int
    msg_uuid: str
    payload: dict[str, Any]
    summary: dict[str, Any]
    attempts: int


class Outbox:
    """The store behind delivery. Thread-safe; open one per process (not across fork)."""

    def __init__(self, path: str | None) -> None:
        self.path = path or ":memory:"
        self.memory = self.path == ":memory:"
        if not self.memory:
            _create_private(self.path)
        self._db = sqlite3.connect(
            self.path, timeout=2.0, isolation_level=None, check_same_thread=False
        )
        self._lock = threading.RLock()
        try:
            self._setup()
        except BaseException:
            self._db.close()
            raise

    def _setup(self) -> None:
        """WAL and the schema. Switching to WAL ignores the busy timeout, so while another
        process creates the same file this retries briefly instead of failing."""
        deadline = time.monotonic() + 2.0
        while True:
            try:
                with self._lock:
                    if not self.memory:
                        self._db.execute("PRAGMA journal_mode=WAL")
                        self._db.execute("PRAGMA synchronous=NORMAL")
                    self._migrate()
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: the write lock is taken at its start."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _migrate(self) -> None:
        with self._write() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise sqlite3.DatabaseError(
                    f"outbox schema {version} is newer than this jobwatch ({SCHEMA_VERSION})"
                )
            while version < SCHEMA_VERSION:
                for statement in _MIGRATIONS[version].split(";"):
                    if statement.strip():
                        db.execute(statement)
                version += 1
                db.execute(f"PRAGMA user_version = {version}")

    # -- messages ----------------------------------------------------------------------

    def add(
        self, robot: str, msg_uuid: str, payload: dict[str, Any], summary: dict[str, Any]
    ) -> int:
        """Commit one message as pending; return its id."""
        now = time.time()
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        facts = json.dumps(summary, ensure_ascii=False, separators=(",", ":"))
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO messages (robot, msg_uuid, payload, summary, created, updated)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (robot, msg_uuid, text, facts, now, now),
            )
            return int(cursor.lastrowid or 0)

    _DUE = (
        "((state = 'pending' AND not_before <= ?) OR (state = 'sending' AND claimed_at < ?))"
    )

    def due_robots(self, now: float, stale: float) -> list[str]:
        """Robots with a message to send now: pending and due, or claimed by a process that
        died while sending it (a dead pid, or a claim older than ``stale`` seconds)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT DISTINCT robot FROM messages WHERE {self._DUE}",  # noqa: S608
                (now, now - stale),
            ).fetchall()
        return sorted({r[0] for r in rows} | {robot for robot, _ in self._orphans()})

    def _orphans(self) -> list[tuple[str, str]]:
        """(robot, batch) of claims whose process is gone (one host: pids are comparable)."""
        with self._lock:
            claims = self._db.execute(
                "SELECT DISTINCT robot, batch, claimed_by FROM messages WHERE state = 'sending'"
            ).fetchall()
        return [(robot, batch) for robot, batch, pid in claims if not _alive(pid)]

    def oldest_due(self, robot: str, now: float, stale: float) -> float | None:
        """When the oldest message of ``robot`` due now was created (None: none due)."""
        if any(r == robot for r, _ in self._orphans()):
            return 0.0
        with self._lock:
            row = self._db.execute(
                f"SELECT MIN(created) FROM messages WHERE robot = ? AND {self._DUE}",  # noqa: S608
                (robot, now, now - stale),
            ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def claim(self, robot: str, now: float, limit: int, stale: float) -> tuple[str, list[Row]]:
        """Take messages to send as one unit. A unit that may already have reached DingTalk
        (claimed by a process that died, or answered with a transient error) is taken again
        exactly as it was: same rows, same batch, so the same msgUuid. Else up to ``limit`` due
        pending messages, oldest first, become a new unit."""
        orphans = {batch for r, batch in self._orphans() if r == robot}
        with self._write() as db:
            old = db.execute(
                "SELECT batch FROM messages WHERE robot = ? AND state = 'sending'"
                " AND claimed_at < ? LIMIT 1",
                (robot, now - stale),
            ).fetchone()
            batch = old[0] if old is not None else next(iter(orphans), None)
            state = "sending"
            if batch is None:
                retry = db.execute(
                    "SELECT batch FROM messages WHERE robot = ? AND state = 'pending'"
                    " AND batch IS NOT NULL AND not_before <= ? ORDER BY id LIMIT 1",
                    (robot, now),
                ).fetchone()
                batch, state = (retry[0], "pending") if retry is not None else (None, "")
            if batch is not None:
                found = db.execute(
                    "SELECT id, msg_uuid, payload, summary, attempts FROM messages"
                    " WHERE batch = ? AND state = ? ORDER BY id",
                    (batch, state),
                ).fetchall()
            else:
                found = db.execute(
                    "SELECT id, msg_uuid, payload, summary, attempts FROM messages"
                    " WHERE robot = ? AND state = 'pending' AND not_before <= ?"
                    " ORDER BY id LIMIT ?",
                    (robot, now, limit),
                ).fetchall()
                batch = found[0][1] if len(found) == 1 else batch_id([r[1] for r in found])
            db.executemany(
                "UPDATE messages SET state = 'sending', batch = ?, claimed_at = ?,"
                " claimed_by = ?, updated = ? WHERE id = ?",
                [(batch, now, os.getpid(), now, r[0]) for r in found],
            )
        rows = [Row(r[0], r[1], json.loads(r[2]), json.loads(r[3]), r[4]) for r in found]
        return batch or "", rows

    def due_now(self, robots: list[str]) -> None:
        """Make the pending messages of ``robots`` due at once (an explicit flush)."""
        with self._write() as db:
            db.executemany(
                "UPDATE messages SET not_before = 0 WHERE robot = ? AND state = 'pending'",
                [(r,) for r in robots],
            )

    def unclaim(self, ids: list[int], now: float) -> None:
        """Give back claimed messages that were not sent (no budget left for them)."""
        with self._write() as db:
            db.executemany(
                "UPDATE messages SET state = 'pending', batch = NULL, claimed_at = NULL,"
                " claimed_by = NULL, updated = ? WHERE id = ? AND state = 'sending'",
                [(now, i) for i in ids],
            )

    def delivered(self, ids: list[int], now: float) -> None:
        self._settle(ids, "delivered", now, None, None, 0.0)

    def dead(self, ids: list[int], now: float, errcode: int | None, error: str) -> None:
        self._settle(ids, "dead", now, errcode, error, 0.0)

    def retry_later(self, ids: list[int], now: float, not_before: float, error: str) -> None:
        self._settle(ids, "pending", now, None, error, not_before)

    def _settle(
        self, ids: list[int], state: str, now: float, errcode: int | None, error: str | None,
        not_before: float,
    ) -> None:
        with self._write() as db:
            # A unit answered with a transient error keeps its batch: it may have reached
            # DingTalk, so it is re-sent as the same unit with the same msgUuid.
            db.executemany(
                "UPDATE messages SET state = ?, updated = ?, errcode = ?, error = ?,"
                " attempts = attempts + 1, not_before = ?, claimed_at = NULL,"
                " claimed_by = NULL WHERE id = ?",
                [(state, now, errcode, error, not_before, i) for i in ids],
            )

    def pending_ids(self, robots: list[str]) -> list[int]:
        """The ids of messages of ``robots`` not yet delivered or dead."""
        if not robots:
            return []
        marks = ",".join("?" * len(robots))
        with self._lock:
            found = self._db.execute(
                f"SELECT id FROM messages WHERE robot IN ({marks})"  # noqa: S608
                " AND state IN ('pending', 'sending')",
                robots,
            ).fetchall()
        return [int(r[0]) for r in found]

    def purge(self, now: float, delivered_for: float = 7 * 86400, dead_for: float = 30 * 86400,
              keep: int = 10_000) -> int:
        """Forget delivered messages after ``delivered_for`` seconds (and beyond the newest
        ``keep``), dead ones after ``dead_for``; return how many rows went."""
        with self._write() as db:
            gone = db.execute(
                "DELETE FROM messages WHERE (state = 'delivered' AND updated < ?)"
                " OR (state = 'dead' AND updated < ?) OR (state = 'delivered' AND id <="
                " (SELECT id FROM messages WHERE state = 'delivered' ORDER BY id DESC"
                " LIMIT 1 OFFSET ?))",
                (now - delivered_for, now - dead_for, keep),
            ).rowcount
        return int(gone)

    def states(self, ids: list[int]) -> dict[int, str]:
        """The state of each of ``ids`` that exists.

        Asked in chunks of one fixed size (padded with -1, which no row has): sqlite3 caches
        a prepared statement per distinct SQL text, and one text per list length kept 128
        statements of up to thousands of parameters each (1.5 GB after 100,000 failures).
        """
        found: list[tuple[int, str]] = []
        with self._lock:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                chunk += [-1] * (_CHUNK - len(chunk))
                found += self._db.execute(_STATES, chunk).fetchall()
        return {int(i): str(s) for i, s in found}

    def counts(self) -> dict[str, int]:
        """How many messages are in each state."""
        with self._lock:
            found = self._db.execute("SELECT state, COUNT(*) FROM messages GROUP BY state")
            return {str(s): int(n) for s, n in found.fetchall()}

    def dead_messages(self, limit: int = 20) -> list[dict[str, Any]]:
        """The most recent dead messages: summary, errcode and error."""
        with self._lock:
            found = self._db.execute(
                "SELECT summary, errcode, error, updated FROM messages WHERE state = 'dead'"
                " ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            {**json.loads(s), "errcode": c, "error": e, "updated": u} for s, c, e, u in found
        ]

    # -- the rate budget and penalties ---------------------------------------------------

    def take_slot(self, robot: str, now: float, budget: int, window: float) -> tuple[float, int]:
        """Take one send from the robot's budget: (0.0, slot) if taken, else (seconds until a
        slot, 0). ``touch_slot`` moves the slot to when the send really ended."""
        with self._write() as db:
            db.execute("DELETE FROM sends WHERE at <= ?", (now - window,))
            paused = db.execute(
                "SELECT paused_until FROM robots WHERE robot = ?", (robot,)
            ).fetchone()
            if paused is not None and float(paused[0]) > now:
                return float(paused[0]) - now, 0
            times = [r[0] for r in db.execute(
                "SELECT at FROM sends WHERE robot = ? ORDER BY at", (robot,)
            ).fetchall()]
            if len(times) >= budget:
                return max(float(times[len(times) - budget]) + window - now, 0.01), 0
            cursor = db.execute("INSERT INTO sends (robot, at) VALUES (?, ?)", (robot, now))
            return 0.0, int(cursor.lastrowid or 0)

    def free_slot(self, slot: int) -> None:
        """Give back a slot that was not used (another process had claimed the messages)."""
        with self._write() as db:
            db.execute("DELETE FROM sends WHERE rowid = ?", (slot,))

    def touch_slot(self, slot: int, at: float) -> None:
        """Count a send at the time it ended (its retries may have reached DingTalk late)."""
        with self._write() as db:
            db.execute("UPDATE sends SET at = MAX(at, ?) WHERE rowid = ?", (at, slot))

    def used(self, robot: str, now: float, window: float) -> int:
        """Sends to ``robot`` in the last ``window`` seconds, by any process."""
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM sends WHERE robot = ? AND at > ?", (robot, now - window)
            ).fetchone()
        return int(row[0])

    def pause(self, robot: str, until: float, reason: str) -> None:
        """Send nothing to ``robot`` before ``until`` (all processes respect it)."""
        with self._write() as db:
            db.execute(
                "INSERT INTO robots (robot, paused_until, reason) VALUES (?, ?, ?)"
                " ON CONFLICT (robot) DO UPDATE SET paused_until = excluded.paused_until,"
                " reason = excluded.reason",
                (robot, until, reason),
            )

    # -- run history -------------------------------------------------------------------

    def record_runs(self, runs: list[tuple[str, str, str, float, float | None, int | None]],
                    keep: int = KEEP_RUNS) -> None:
        """Append runs (name, host, status, started, duration, exit code); keep the last
        ``keep`` per job name."""
        if not runs:
            return
        with self._write() as db:
            append_runs(db, runs, keep)

    def runs(self, name: str | None, limit: int) -> list[tuple[Any, ...]]:
        """The latest runs, newest first, of one job or of all."""
        query = "SELECT name, host, status, started, duration, exit_code FROM runs"
        args: tuple[Any, ...] = ()
        if name is not None:
            query, args = query + " WHERE name = ?", (name,)
        with self._lock:
            return self._db.execute(query + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()


_CHUNK = 100
_STATES = f"SELECT id, state FROM messages WHERE id IN ({','.join('?' * _CHUNK)})"  # noqa: S608


def batch_id(uuids: list[str]) -> str:
    """The msgUuid of a digest: derived from its members, so a re-sent batch keeps it."""
    return hashlib.sha256(",".join(uuids).encode()).hexdigest()[:32]


def _alive(pid: object) -> bool:
    """Whether process ``pid`` exists (None: no claimer recorded, treat as alive)."""
    if not isinstance(pid, int) or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _create_private(path: str) -> None:
    """Create the file (and its directories) readable by its owner only."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
