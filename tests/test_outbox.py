"""Tests of jobwatch.outbox: the SQLite store behind delivery (states, claims, budget, history)."""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jobwatch.config import Settings
from jobwatch.outbox import SCHEMA_VERSION, Outbox, Row, robot_id
from jobwatch.render import render, summary
from jobwatch.report import Report

R = robot_id("robot-token-a")
R2 = robot_id("robot-token-b")
T = 1_000.0  # an explicit clock: claims, settles and slots take `now` as an argument
STALE = 90.0
UUIDS = [f"{i:032x}" for i in range(1, 11)]

Opener = Callable[..., Outbox]


@pytest.fixture
def open_box(tmp_path: Path) -> Iterator[Opener]:
    """Open outboxes (default: tmp_path/outbox.sqlite3); every one is closed after the test."""
    opened: list[Outbox] = []

    def open_(path: str | Path | None = tmp_path / "outbox.sqlite3") -> Outbox:
        box = Outbox(None if path is None else str(path))
        opened.append(box)
        return box

    yield open_
    for box in opened:
        box.close()


@pytest.fixture
def box(open_box: Opener) -> Outbox:
    """An outbox on a file in tmp_path."""
    return open_box()


def payload(n: int) -> dict[str, Any]:
    """A small markdown payload numbered ``n``."""
    return {"msgtype": "markdown", "markdown": {"title": f"t{n}", "text": f"report {n}"}}


def facts(n: int) -> dict[str, Any]:
    """A small summary numbered ``n``."""
    return {"name": f"job-{n}", "status": "failure"}


def add(box: Outbox, n: int, robot: str = R) -> int:
    """Add message ``n`` (msg_uuid UUIDS[n]) for ``robot``; return its id."""
    return box.add(robot, UUIDS[n], payload(n), facts(n))


def pragma(path: Path, name: str) -> Any:
    """Read one PRAGMA of the file at ``path`` with a separate sqlite3 connection."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute(f"PRAGMA {name}").fetchone()[0]


# -- the file ----------------------------------------------------------------------------


def test_new_file_is_private_in_created_directories(open_box: Opener, tmp_path: Path) -> None:
    """A new outbox file is created with mode 0600, its missing parent directories too."""
    path = tmp_path / "a" / "b" / "outbox.sqlite3"
    open_box(path)
    assert path.parent.is_dir()
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_wal_and_shm_files_are_private(open_box: Opener, tmp_path: Path) -> None:
    """The -wal and -shm files, which hold the messages too, are readable by the owner only."""
    path = tmp_path / "outbox.sqlite3"
    add(open_box(path), 0)
    for suffix in ("-wal", "-shm"):
        assert os.stat(f"{path}{suffix}").st_mode & 0o777 == 0o600


def test_schema_version_and_wal(box: Outbox, tmp_path: Path) -> None:
    """A new file carries PRAGMA user_version == SCHEMA_VERSION and is in WAL mode."""
    path = tmp_path / "outbox.sqlite3"
    assert box.memory is False
    assert box.path == str(path)
    assert pragma(path, "user_version") == SCHEMA_VERSION
    assert pragma(path, "journal_mode") == "wal"


def test_reopening_keeps_rows(open_box: Opener) -> None:
    """Reopening an existing file keeps its messages, their states and contents."""
    first = open_box()
    a, b = add(first, 0), add(first, 1)
    first.claim(R, T, 1, STALE)
    first.close()
    again = open_box()
    assert again.states([a, b]) == {a: "sending", b: "pending"}
    assert again.counts() == {"sending": 1, "pending": 1}
    assert again.claim(R, T, 10, STALE) == (UUIDS[1], [Row(b, UUIDS[1], payload(1), facts(1), 0)])


def test_newer_schema_is_refused(open_box: Opener, tmp_path: Path) -> None:
    """A file written by a newer jobwatch (higher user_version) is refused, left untouched."""
    path = tmp_path / "outbox.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(sqlite3.DatabaseError, match="newer"):
        open_box(path)
    assert pragma(path, "user_version") == SCHEMA_VERSION + 1


def test_memory_outbox(open_box: Opener) -> None:
    """Outbox(None) lives in memory and adds and claims like a file outbox."""
    box = open_box(None)
    assert box.memory is True
    assert box.path == ":memory:"
    a, b = add(box, 0), add(box, 1)
    assert box.counts() == {"pending": 2}
    batch, rows = box.claim(R, T, 1, STALE)
    assert (batch, [r.id for r in rows]) == (UUIDS[0], [a])
    assert box.states([a, b]) == {a: "sending", b: "pending"}


# -- secrets -----------------------------------------------------------------------------


def test_robot_id_is_a_stable_digest() -> None:
    """robot_id is 24 hex characters, stable, distinct per token, and hides the token."""
    token = "SECRETTOKEN" + "9f3c" * 10
    rid = robot_id(token)
    assert re.fullmatch(r"[0-9a-f]{24}", rid)
    assert robot_id(token) == rid
    assert robot_id(token + "x") != rid
    assert token not in rid
    assert token[:12] not in rid


def test_file_holds_no_token_or_secret(open_box: Opener, tmp_path: Path) -> None:
    """Rows for a robot, with rendered payloads, leave neither its token nor its secret in
    the database file or its WAL, before or after closing."""
    token = "SECRETTOKEN" + "9f3c" * 10
    secret = "SECsigning-secret-0123456789abcdef"
    settings = Settings(
        webhook=f"https://oapi.dingtalk.com/robot/send?access_token={token}", secret=secret
    )
    report = Report(
        name="nightly-etl",
        status="failure",
        started=T,
        ended=T + 5,
        duration=5.0,
        host="web-1",
        platform="linux",
        pid=7,
        python="3.12.1",
        exc_type="RuntimeError",
        exc_message=f"POST ...?access_token={token} failed; secret={secret}",
        owners=("13800000000",),
    )
    path = tmp_path / "outbox.sqlite3"
    box = open_box(path)
    rid = robot_id(token)
    for n in range(3):
        box.add(rid, UUIDS[n], render(report, settings).payload(), summary(report, settings))
    box.claim(rid, T, 1, STALE)

    def stored() -> bytes:
        files = [path, Path(f"{path}-wal")]
        return b"".join(f.read_bytes() for f in files if f.exists())

    while_open = stored()
    box.close()
    after_close = stored()
    for data in (while_open, after_close):
        assert rid.encode() in data  # the right file: the robot's digest is there
        assert b"nightly-etl" in data
        assert token.encode() not in data
        assert secret.encode() not in data


# -- message states ----------------------------------------------------------------------


def test_add_commits_pending(box: Outbox) -> None:
    """add() returns increasing ids of pending messages."""
    a, b = add(box, 0), add(box, 1, R2)
    assert b > a
    assert box.states([a, b]) == {a: "pending", b: "pending"}
    assert box.counts() == {"pending": 2}
    assert box.states([]) == {}


def test_states_of_many_ids_across_chunks(box: Outbox) -> None:
    """states() answers for any number of ids (asked in fixed-size chunks), omitting ids
    that are not in the outbox."""
    ids = [add(box, n % len(UUIDS)) for n in range(250)]
    box.delivered(ids[99:101], T)
    found = box.states([*ids, 10**9])
    assert len(found) == 250
    assert [found[i] for i in ids[98:102]] == ["pending", "delivered", "delivered", "pending"]


def test_claim_takes_oldest_first_up_to_limit(box: Outbox) -> None:
    """claim() takes the robot's oldest due messages, at most `limit`, and marks them sending."""
    ids = [add(box, n) for n in range(3)]
    other = add(box, 3, R2)
    _batch, rows = box.claim(R, T, 2, STALE)
    assert rows == [
        Row(ids[0], UUIDS[0], payload(0), facts(0), 0),
        Row(ids[1], UUIDS[1], payload(1), facts(1), 0),
    ]
    assert box.states([*ids, other]) == {
        ids[0]: "sending",
        ids[1]: "sending",
        ids[2]: "pending",
        other: "pending",
    }
    assert box.counts() == {"sending": 2, "pending": 2}


def test_claim_nothing_due(box: Outbox) -> None:
    """claim() with nothing due returns no rows."""
    add(box, 0, R2)
    assert box.claim(R, T, 10, STALE)[1] == []


def test_single_row_batch_id_is_its_msg_uuid(box: Outbox) -> None:
    """A batch of one message is identified by that message's msg_uuid."""
    add(box, 4)
    batch, rows = box.claim(R, T, 10, STALE)
    assert batch == UUIDS[4]
    assert [r.msg_uuid for r in rows] == [UUIDS[4]]


def test_batch_id_of_several_is_derived_from_members(open_box: Opener, tmp_path: Path) -> None:
    """A batch of several gets a 32-hex id derived from its members: same members, same id."""
    box = open_box()
    ids = [add(box, n) for n in range(3)]
    batch, rows = box.claim(R, T, 10, STALE)
    assert [r.id for r in rows] == ids
    assert re.fullmatch(r"[0-9a-f]{32}", batch)
    assert batch not in UUIDS
    box.unclaim(ids, T)
    assert box.claim(R, T, 10, STALE)[0] == batch  # claimed again: the same id
    other = open_box(tmp_path / "other.sqlite3")
    for n in range(3):
        add(other, n)
    assert other.claim(R, T, 10, STALE)[0] == batch  # the same members elsewhere: the same id
    third = open_box(tmp_path / "third.sqlite3")
    for n in (0, 1, 3):
        add(third, n)
    assert third.claim(R, T, 10, STALE)[0] != batch  # other members: another id


def test_delivered(box: Outbox) -> None:
    """delivered() settles messages for good: never claimed again, not pending."""
    a, b = add(box, 0), add(box, 1)
    box.claim(R, T, 10, STALE)
    box.delivered([a], T + 1)
    assert box.states([a, b]) == {a: "delivered", b: "sending"}
    assert box.counts() == {"delivered": 1, "sending": 1}
    box.unclaim([b], T + 1)
    assert [r.id for r in box.claim(R, T + STALE + 10, 10, STALE)[1]] == [b]
    assert box.pending_ids([R]) == [b]


def test_dead_keeps_errcode_and_error(box: Outbox) -> None:
    """dead() marks messages dead with errcode and error, listed by dead_messages()."""
    a, b = add(box, 0), add(box, 1)
    box.claim(R, T, 10, STALE)
    box.dead([a], T + 2, 310000, "keywords not in content")
    box.dead([b], T + 3, None, "message too large")
    assert box.states([a, b]) == {a: "dead", b: "dead"}
    assert box.counts() == {"dead": 2}
    assert box.dead_messages() == [
        {**facts(1), "errcode": None, "error": "message too large", "updated": T + 3},
        {**facts(0), "errcode": 310000, "error": "keywords not in content", "updated": T + 2},
    ]
    assert box.dead_messages(limit=1) == box.dead_messages()[:1]
    assert box.claim(R, T + 1000, 10, STALE)[1] == []


def test_retry_later_waits_for_not_before(box: Outbox) -> None:
    """retry_later() makes a message pending again, claimable from `not_before` on."""
    a = add(box, 0)
    box.claim(R, T, 10, STALE)
    box.retry_later([a], T, T + 30, "connection refused")
    assert box.states([a]) == {a: "pending"}
    assert box.due_robots(T + 29, STALE) == []
    assert box.oldest_due(R, T + 29, STALE) is None
    assert box.claim(R, T + 29, 10, STALE)[1] == []
    assert box.due_robots(T + 30, STALE) == [R]
    batch, rows = box.claim(R, T + 30, 10, STALE)
    assert (batch, [r.id for r in rows]) == (UUIDS[0], [a])
    assert rows[0].attempts == 1


def test_attempts_count_settles_not_unclaims(box: Outbox) -> None:
    """Each settle adds one attempt; giving a claim back (unclaim) adds none."""
    a = add(box, 0)
    box.claim(R, T, 10, STALE)
    box.retry_later([a], T, T, "timeout")
    assert box.claim(R, T, 10, STALE)[1][0].attempts == 1
    box.retry_later([a], T, T, "timeout")
    assert box.claim(R, T, 10, STALE)[1][0].attempts == 2
    box.unclaim([a], T)
    assert box.states([a]) == {a: "pending"}
    assert box.claim(R, T, 10, STALE)[1][0].attempts == 2
    box.dead([a], T, 300001, "token is not exist")
    assert box.dead_messages()[0]["errcode"] == 300001


def test_unclaim_gives_back_only_sending(box: Outbox) -> None:
    """unclaim() returns sending messages to pending and leaves settled ones alone."""
    a, b = add(box, 0), add(box, 1)
    box.claim(R, T, 10, STALE)
    box.delivered([a], T)
    box.unclaim([a, b], T)
    assert box.states([a, b]) == {a: "delivered", b: "pending"}
    assert box.claim(R, T, 10, STALE) == (UUIDS[1], [Row(b, UUIDS[1], payload(1), facts(1), 0)])


# -- stale claims ------------------------------------------------------------------------


def test_stale_claim_is_returned_as_the_same_batch(box: Outbox) -> None:
    """A claim never settled is returned again once stale: same batch id, same rows."""
    ids = [add(box, n) for n in range(3)]
    batch, rows = box.claim(R, T, 10, STALE)
    assert box.claim(R, T + 1, 10, STALE)[1] == []
    assert box.claim(R, T + STALE, 10, STALE)[1] == []
    again = box.claim(R, T + STALE + 1, 10, STALE)
    assert again == (batch, rows)
    assert [r.id for r in again[1]] == ids
    assert box.states(ids) == dict.fromkeys(ids, "sending")
    # The new claim is fresh: not stale again until `stale` more seconds have passed.
    assert box.claim(R, T + STALE + 2, 10, STALE)[1] == []


def test_stale_single_row_keeps_msg_uuid(box: Outbox) -> None:
    """A stale claim of one message comes back under that message's msg_uuid."""
    a = add(box, 5)
    box.claim(R, T, 10, STALE)
    assert box.claim(R, T + STALE + 1, 10, STALE) == (
        UUIDS[5],
        [Row(a, UUIDS[5], payload(5), facts(5), 0)],
    )


def test_due_robots_and_oldest_due_see_claims_only_when_stale(box: Outbox) -> None:
    """due_robots and oldest_due include claimed messages only when the claim is stale."""
    before = time.time()
    add(box, 0)
    after = time.time()
    oldest = box.oldest_due(R, T, STALE)
    assert oldest is not None
    assert before <= oldest <= after
    assert box.due_robots(T, STALE) == [R]
    box.claim(R, T, 10, STALE)
    assert box.due_robots(T + 1, STALE) == []
    assert box.oldest_due(R, T + 1, STALE) is None
    assert box.due_robots(T + STALE + 1, STALE) == [R]
    assert box.oldest_due(R, T + STALE + 1, STALE) == oldest
    assert box.oldest_due(R2, T + STALE + 1, STALE) is None


# -- two processes on one file -------------------------------------------------------------


def test_two_outboxes_never_claim_the_same_row(open_box: Opener) -> None:
    """Rows claimed through one Outbox are not claimed through another on the same file."""
    one, two = open_box(), open_box()
    ids = [add(one, n) for n in range(3)]
    assert [r.id for r in one.claim(R, T, 2, STALE)[1]] == ids[:2]
    assert [r.id for r in two.claim(R, T, 10, STALE)[1]] == ids[2:]
    assert one.claim(R, T, 10, STALE)[1] == []
    assert two.claim(R, T, 10, STALE)[1] == []
    assert two.counts() == {"sending": 3}


def test_take_slot_budget_is_shared(open_box: Opener) -> None:
    """take_slot gives `budget` slots per window across Outboxes, then the wait for the
    oldest slot to leave the window."""
    one, two = open_box(), open_box()
    assert one.take_slot(R, T, 3, 60)[0] == 0.0
    assert two.take_slot(R, T + 10, 3, 60)[0] == 0.0
    assert one.take_slot(R, T + 20, 3, 60)[0] == 0.0
    assert two.take_slot(R, T + 30, 3, 60)[0] == 30.0
    assert one.take_slot(R, T + 59.5, 3, 60)[0] == 0.5
    assert two.take_slot(R2, T + 30, 3, 60)[0] == 0.0  # another robot has its own budget
    assert one.take_slot(R, T + 60, 3, 60)[0] == 0.0  # the first slot has left the window
    assert two.take_slot(R, T + 60, 3, 60)[0] == 10.0  # now the second one is the oldest


def test_used_counts_sends_in_the_window(open_box: Opener) -> None:
    """used() counts the robot's slots taken within the window, by any Outbox."""
    one, two = open_box(), open_box()
    one.take_slot(R, T, 3, 60)
    two.take_slot(R, T + 30, 3, 60)
    two.take_slot(R2, T + 30, 3, 60)
    assert one.used(R, T + 30, 60) == 2
    assert two.used(R, T + 59, 60) == 2
    assert one.used(R, T + 60, 60) == 1
    assert two.used(R, T + 90, 60) == 0
    assert one.used(R2, T + 30, 60) == 1


def test_pause_is_respected_by_every_outbox(open_box: Opener) -> None:
    """pause(robot, until) makes take_slot answer until - now everywhere, taking no slot."""
    one, two = open_box(), open_box()
    one.pause(R, T + 600, "errcode 130101")
    assert one.take_slot(R, T, 3, 60)[0] == 600.0
    assert two.take_slot(R, T + 100, 3, 60)[0] == 500.0
    assert two.take_slot(R2, T + 100, 3, 60)[0] == 0.0  # other robots are not paused
    assert one.used(R, T + 100, 60) == 0
    assert two.take_slot(R, T + 600, 3, 60)[0] == 0.0
    assert one.used(R, T + 600, 60) == 1


def test_threads_with_own_outboxes_add_concurrently(tmp_path: Path) -> None:
    """8 threads, each opening its own Outbox on one new file, add 50 messages each without
    error ("database is locked" included)."""
    path = str(tmp_path / "outbox.sqlite3")
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            start.wait()
            box = Outbox(path)
            try:
                for n in range(50):
                    box.add(R, f"{k:016x}{n:016x}", payload(n), facts(n))
            finally:
                box.close()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    box = Outbox(path)
    try:
        assert box.counts() == {"pending": 400}
        assert len(set(box.pending_ids([R]))) == 400
    finally:
        box.close()


def test_open_waits_for_a_concurrent_creator(tmp_path: Path) -> None:
    """Opening a new file while another process holds its write lock (as one that is creating
    it does) waits for the lock instead of failing at once with "database is locked"."""
    path = tmp_path / "outbox.sqlite3"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # the other process, halfway through creating the file
    release = threading.Timer(0.2, other.execute, ("COMMIT",))
    release.start()
    try:
        box = Outbox(str(path))
        try:
            add(box, 0)
            assert box.counts() == {"pending": 1}
        finally:
            box.close()
    finally:
        release.join()
        other.close()


# -- run history -------------------------------------------------------------------------


def run(name: str, n: int, status: str = "success") -> tuple[str, str, str, float, float, int]:
    """Run ``n`` of job ``name``."""
    return (name, "web-1", status, T + n, 1.5, 0 if status == "success" else 1)


def test_record_runs_appends_newest_first(box: Outbox) -> None:
    """record_runs appends; runs(name, limit) lists that job's runs newest first."""
    box.record_runs([run("etl", 1), run("etl", 2, "failure")], keep=1000)
    box.record_runs([run("backup", 3), run("etl", 4)], keep=1000)
    box.record_runs([], keep=1000)
    assert box.runs("etl", 10) == [run("etl", 4), run("etl", 2, "failure"), run("etl", 1)]
    assert box.runs("etl", 2) == [run("etl", 4), run("etl", 2, "failure")]
    assert box.runs("backup", 10) == [run("backup", 3)]
    assert box.runs("nothing", 10) == []


def test_runs_of_all_jobs(box: Outbox) -> None:
    """runs(None, limit) lists every job's runs, newest first."""
    box.record_runs([run("etl", 1), run("backup", 2), run("etl", 3)], keep=1000)
    assert box.runs(None, 10) == [run("etl", 3), run("backup", 2), run("etl", 1)]
    assert box.runs(None, 1) == [run("etl", 3)]


def test_record_runs_keeps_the_last_per_job(box: Outbox) -> None:
    """With keep=5 only the last 5 runs of each job remain."""
    box.record_runs([run("etl", n) for n in range(4)], keep=5)
    box.record_runs([run("backup", 100), run("backup", 101)], keep=5)
    for n in range(4, 8):
        box.record_runs([run("etl", n)], keep=5)
    assert box.runs("etl", 100) == [run("etl", n) for n in range(7, 2, -1)]
    assert box.runs("backup", 100) == [run("backup", 101), run("backup", 100)]
    box.record_runs([run("etl", n) for n in range(8, 20)], keep=5)
    assert box.runs("etl", 100) == [run("etl", n) for n in range(19, 14, -1)]


# -- flush helpers -----------------------------------------------------------------------


def test_due_now_ends_backoff(box: Outbox) -> None:
    """due_now(robots) makes those robots' backed-off messages due at once, not others'."""
    a, b = add(box, 0), add(box, 1, R2)
    box.claim(R, T, 10, STALE)
    box.claim(R2, T, 10, STALE)
    box.retry_later([a, b], T, T + 600, "timeout")
    assert box.claim(R, T + 1, 10, STALE)[1] == []
    box.due_now([R])
    assert box.due_robots(T + 1, STALE) == [R]
    assert [r.id for r in box.claim(R, T + 1, 10, STALE)[1]] == [a]
    assert box.claim(R2, T + 1, 10, STALE)[1] == []


def test_pending_ids_lists_pending_and_sending(box: Outbox) -> None:
    """pending_ids(robots) lists the robots' pending and sending messages, not settled ones."""
    ids = [add(box, n) for n in range(5)]
    other = add(box, 5, R2)
    box.claim(R, T, 3, STALE)  # ids[0..2] sending
    box.delivered([ids[0]], T)
    box.dead([ids[1]], T, 310000, "sign not match")
    assert sorted(box.pending_ids([R])) == [ids[2], ids[3], ids[4]]
    assert sorted(box.pending_ids([R, R2])) == [ids[2], ids[3], ids[4], other]
    assert box.pending_ids([]) == []
    assert box.pending_ids([robot_id("unknown")]) == []


def test_touch_slot_counts_the_send_when_it_ended(open_box: Opener) -> None:
    """A send whose retries ended late holds its slot from then, not from when it began."""
    one = open_box()
    wait, slot = one.take_slot(R, T, 1, 60)
    assert (wait, slot > 0) == (0.0, True)
    one.touch_slot(slot, T + 25)
    assert one.take_slot(R, T + 61, 1, 60)[0] == 24.0
    assert one.take_slot(R, T + 85, 1, 60)[0] == 0.0


def test_transient_unit_is_claimed_again_as_the_same_unit(open_box: Opener) -> None:
    """A unit answered with a transient error comes back with the same rows and batch id,
    even when newer messages are pending (so it keeps its msgUuid)."""
    one = open_box()
    first = [
        one.add(R, f"u{i}", {"msgtype": "text", "text": {"content": "x"}}, {}) for i in range(2)
    ]
    batch, rows = one.claim(R, T, 10, 90)
    one.retry_later([r.id for r in rows], T, T + 15, "HTTP 500")
    one.add(R, "u-new", {"msgtype": "text", "text": {"content": "y"}}, {})
    again, rows_again = one.claim(R, T + 16, 10, 90)
    assert (again, [r.id for r in rows_again]) == (batch, first)


def test_claim_of_a_dead_process_is_taken_over_at_once(open_box: Opener) -> None:
    """Rows claimed by a process that no longer exists are due at once, as the same unit."""
    one = open_box()
    one.add(R, "u1", {"msgtype": "text", "text": {"content": "x"}}, {})
    batch, rows = one.claim(R, T, 10, 90)
    with one._lock:
        one._db.execute("UPDATE messages SET claimed_by = 2147483646")  # no such process
    assert one.due_robots(T + 1, 90) == [R]
    again, rows_again = one.claim(R, T + 1, 10, 90)
    assert (again, [r.id for r in rows_again]) == (batch, [r.id for r in rows])


def test_purge_forgets_old_delivered_and_dead_messages(open_box: Opener) -> None:
    """Delivered rows go after a week (or beyond the newest `keep`), dead ones after 30 days,
    pending ones never."""
    one = open_box()
    ids = [one.add(R, f"u{i}", {"msgtype": "text", "text": {"content": "x"}}, {}) for i in range(5)]
    one.delivered(ids[:2], T)
    one.dead(ids[2:3], T, 310000, "sign not match")
    one.delivered(ids[3:4], T + 8 * 86400)
    assert one.purge(T + 8 * 86400) == 2
    assert one.states(ids) == {ids[2]: "dead", ids[3]: "delivered", ids[4]: "pending"}
    assert one.purge(T + 31 * 86400) == 2
    assert one.states(ids) == {ids[4]: "pending"}


def test_purge_keeps_only_the_newest_delivered(open_box: Opener) -> None:
    """Beyond `keep` delivered rows, the oldest go even when recent."""
    one = open_box()
    ids = [one.add(R, f"u{i}", {"msgtype": "text", "text": {"content": "x"}}, {}) for i in range(3)]
    one.delivered(ids, T)
    assert one.purge(T + 60, keep=1) == 2
    assert one.states(ids) == {ids[2]: "delivered"}


def test_free_slot_gives_the_budget_back(open_box: Opener) -> None:
    """A slot taken for messages another process claimed first is returned to the budget."""
    one = open_box()
    _wait, slot = one.take_slot(R, T, 1, 60)
    assert one.take_slot(R, T + 1, 1, 60)[0] == 59.0
    one.free_slot(slot)
    assert one.take_slot(R, T + 2, 1, 60)[0] == 0.0
