"""Delivery: every report is committed to the outbox, then sent by one background worker.

``submit`` commits the message on the job's thread (one small transaction) and wakes the
worker; nothing else happens on the job's thread. The worker sends what is due for every robot
this process knows, within a host-wide budget of ``BUDGET`` sends per ``WINDOW`` seconds per
robot (below DingTalk's 20 a minute), holding a new report briefly for company and merging what
is pending into digests. A throttled robot is paused in the outbox for every process; a
permanent refusal marks the message dead with one ERROR line; a transient failure leaves it
pending for a later attempt, by this process or the next one, or by ``jobwatch flush``.

At exit a process waits at most ``flush_timeout`` seconds for its own reports. With no webhook
(or ``dry_run``) the message is printed to stderr instead, with a one-time notice.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import logging
import os
import sqlite3
import sys
import threading
import time
import uuid
from typing import Any

from . import report, runs
from .config import Settings, resolve
from .digest import digests
from .errors import DingTalkError, MessageTooLarge, SendError, Throttled
from .messages import Message, from_payload
from .outbox import Outbox, Row, batch_id, default_path, robot_id
from .rowids import RowIds
from .schema import KEEP_RUNS
from .scrub import scrub
from .senders.dingtalk import DingTalkSender, preload

__all__ = ["BUDGET", "WINDOW", "Delivery", "flush", "get", "history", "reset", "submit"]

log = logging.getLogger("jobwatch")

BUDGET, WINDOW = 18, 60.0  # DingTalk allows 20 a minute per robot: keep a margin
STALE = 90.0  # a claim older than this was left by a process that died while sending
SETTLE_CHECK = 500  # own rows whose state the worker checks per tick
_Route = tuple[str, "str | None", "str | None"]  # webhook, secret, keyword


def _hold(used: int) -> float:
    """How long a new report waits for company: longer as the robot's budget shrinks."""
    return 0.3 if used < 4 else 1.0 if used < 9 else 3.0 if used < 14 else 8.0


class Delivery:
    """One process's delivery: the outbox, the robots it knows, and the worker thread."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self._routes: dict[str, _Route] = {}
        self._senders: dict[str, tuple[_Route, DingTalkSender]] = {}
        self._mine = RowIds()  # rows this process submitted (or adopted) and waits for
        self._settle_cursor = 0  # _settle_mine looks at the rows after this one next
        self._lost_since_flush = 0
        self._changed = threading.Condition()
        self._urgent = 0
        self._wake_at = 0.0
        self._runs: collections.deque[tuple[Any, ...]] = collections.deque(maxlen=10_000)
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._in_flight: list[int] = []
        self._purged = 0.0
        self.last_error = ""

    # -- the job's side ----------------------------------------------------------------

    def know(self, settings: Settings) -> str | None:
        """Register the robot of ``settings``; return its outbox name."""
        if not settings.webhook:
            return None
        from .senders.signing import Webhook

        robot = robot_id(Webhook.parse(settings.webhook).token)
        self._routes[robot] = (settings.webhook, settings.secret, settings.keyword)
        return robot

    def add(self, message: Message, settings: Settings, summary: dict[str, Any]) -> int:
        """Commit ``message`` for the robot of ``settings``; the worker sends it."""
        robot = self.know(settings)
        assert robot is not None  # noqa: S101 - submit() checked the webhook
        msg_uuid, payload = uuid.uuid4().hex, message.payload()
        try:
            row = self.outbox.add(robot, msg_uuid, payload, summary)
        except (sqlite3.Error, OSError) as exc:  # locked for long, disk full, file gone
            self._to_memory(exc)
            row = self.outbox.add(robot, msg_uuid, payload, summary)
        with self._changed:
            if not self._mine:  # else the worker is due back within 0.1 s anyway (_tick)
                self._changed.notify_all()
            self._mine.add(row)
        self._start()
        return row

    def _to_memory(self, exc: BaseException) -> None:
        """Keep reports in memory from now on (one warning); the file's rows stay there for
        the next process that can use it."""
        with self._changed:
            if self.outbox.memory:
                raise exc
            log.warning(
                "jobwatch: outbox %s became unusable (%s: %s); keeping reports in memory",
                self.outbox.path, type(exc).__name__, exc,
            )
            self._mine.clear()  # rows of the file: the file keeps them
            self.outbox = Outbox(None)

    def wait(self, timeout: float | None) -> bool:
        """Wait for this process's reports: True when all since the last wait were delivered."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            self._urgent += 1
            self._changed.notify_all()
        try:
            with self._changed:
                # Also wait out a batch in flight: it may hold other processes' reports, which
                # would otherwise stay claimed by a process that is gone.
                while self._mine or self._in_flight:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return False
                    self._changed.wait(0.05 if left is None else min(left, 0.05))
                lost, self._lost_since_flush = self._lost_since_flush, 0
                return lost == 0
        finally:
            with self._changed:
                self._urgent -= 1

    @property
    def pending(self) -> int:
        return len(self._mine)

    @property
    def robots(self) -> list[str]:
        return list(self._routes)

    def claim_pending(self) -> None:
        """Adopt the pending messages of known robots (left by earlier processes), so that
        waiting covers them too (``jobwatch.flush()``, ``jobwatch flush``)."""
        found = self.outbox.pending_ids(list(self._routes))
        with self._changed:
            self._mine.update(found)

    # -- the worker --------------------------------------------------------------------

    def _start(self) -> None:
        with self._changed:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="jobwatch-delivery", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        """Stop the worker and close the outbox (tests; a process about to reconfigure)."""
        with self._changed:
            self._stopped = True
            self._changed.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        for _route, sender in self._senders.values():
            sender.close()
        self.outbox.close()

    def _run(self) -> None:
        while not self._stopped:
            try:
                self._tick()
            except Exception as exc:  # noqa: BLE001 - the worker must survive anything
                log.error("jobwatch: delivery error: %s: %s", type(exc).__name__, exc)
                time.sleep(1.0)

    def _tick(self) -> None:
        with self._changed:
            limit = 0.1 if self._mine or self._urgent or self._runs else 1.0
            delay = min(limit, max(0.0, self._wake_at - time.time())) if self._wake_at else limit
            if delay > 0:
                self._changed.wait(delay)
            self._wake_at = 0.0
        self._write_runs()
        now = time.time()
        if now > self._purged + 600:  # the outbox keeps a week of delivered reports
            self._purged = now
            self.outbox.purge(now)
        for robot in self.outbox.due_robots(now, STALE):
            if robot in self._routes:
                self._service(robot, now)
        self._settle_mine()

    def _later(self, when: float) -> None:
        with self._changed:
            self._wake_at = min(self._wake_at, when) if self._wake_at else when

    def _service(self, robot: str, now: float) -> None:
        # The outbox of this pass: if the job's thread switches to memory meanwhile, the rows
        # claimed here are settled in the file they came from, not in the new memory one.
        box = self.outbox
        oldest = box.oldest_due(robot, now, STALE)
        if oldest is None:
            return
        used = box.used(robot, now, WINDOW)
        hold = _hold(used)
        if self._urgent:  # someone waits (a flush, the exit): company only if the budget is low
            hold = 0.0 if used < 4 else min(hold, 0.3)
        if now - oldest < hold:
            self._later(oldest + hold)
            return
        wait, slot = box.take_slot(robot, now, BUDGET, WINDOW)
        if wait > 0:
            self._later(now + wait)
            return
        _batch, rows = box.claim(robot, now, 1000, STALE)
        if not rows:  # another process took them first: the slot goes back to the budget
            box.free_slot(slot)
        else:
            with self._changed:
                self._in_flight = [r.id for r in rows]
            try:
                self._send_batch(box, robot, rows, slot)
            finally:
                with self._changed:
                    self._in_flight = []
                    self._changed.notify_all()

    def _send_batch(self, box: Outbox, robot: str, rows: list[Row], slot: int) -> None:
        sender = self._sender(robot)
        chunks: list[tuple[list[int], Message, str]]
        if len(rows) == 1:
            chunks = [([0], from_payload(rows[0].payload), rows[0].msg_uuid)]
        else:
            details = [r.payload.get("markdown", {}).get("text") for r in rows]
            made = digests([r.summary for r in rows], details, keyword=sender.keyword)
            # Each digest's msgUuid comes from its own members: a digest re-sent after a crash
            # keeps it, and two different digests never share one.
            chunks = [
                (ids, message, batch_id([rows[i].msg_uuid for i in ids]))
                for ids, message in made
            ]
        for k, (ids, message, msg_uuid) in enumerate(chunks):
            if k:
                wait, slot = box.take_slot(robot, time.time(), BUDGET, WINDOW)
                if wait > 0:
                    rest = [rows[i].id for more, _m, _u in chunks[k:] for i in more]
                    box.unclaim(rest, time.time())
                    return
            if not self._send(box, robot, sender, message, msg_uuid, [rows[i] for i in ids],
                              slot):
                rest = [rows[i].id for more, _m, _u in chunks[k + 1 :] for i in more]
                box.unclaim(rest, time.time())
                return

    def _send(
        self, box: Outbox, robot: str, sender: DingTalkSender, message: Message, msg_uuid: str,
        rows: list[Row], slot: int,
    ) -> bool:
        """Send one message for ``rows``; settle them; False if the robot should rest."""
        ids = [r.id for r in rows]
        label = rows[0].summary.get("name", "?") if len(rows) == 1 else f"{len(rows)} reports"
        try:
            try:
                sender.send(message, msg_uuid=msg_uuid)
            finally:  # retries may have reached DingTalk late: count the send when it ended
                box.touch_slot(slot, time.time())
        except Throttled as exc:
            now = time.time()
            box.pause(robot, now + exc.retry_after, f"errcode {exc.errcode}")
            box.unclaim(ids, now)
            log.warning(
                "jobwatch: the robot is throttled (%s); %d report(s) kept, sending again"
                " in %.0f s", exc.errmsg, len(ids), exc.retry_after,
            )
            return False
        except (DingTalkError, MessageTooLarge) as exc:
            errcode = getattr(exc, "errcode", None)
            box.dead(ids, time.time(), errcode, str(exc))
            log.error(
                "jobwatch: DingTalk refused the report of %r: %s; the report is kept as dead"
                " in the outbox", label, exc,
            )
            self._lost(ids, box)
            self._forget(ids, box)
            return True
        except SendError as exc:
            now = time.time()
            attempts = rows[0].attempts + 1
            backoff = min(600.0, 15.0 * 2 ** min(attempts - 1, 6))
            box.retry_later(ids, now, now + backoff, str(exc))
            self.last_error = str(exc)
            # A short job says so once at exit; a long-lived process warns when it persists.
            log.log(
                logging.WARNING if attempts == 3 else logging.INFO,
                "jobwatch: could not send the report of %r (attempt %d, kept, retrying in"
                " %.0f s): %s", label, attempts, backoff, exc,
            )
            return False
        box.delivered(ids, time.time())
        self._forget(ids, box)
        return True

    def _sender(self, robot: str) -> DingTalkSender:
        route = self._routes[robot]
        known = self._senders.get(robot)
        if known is None or known[0] != route:
            webhook, secret, keyword = route
            known = self._senders[robot] = (
                route, DingTalkSender(webhook, secret=secret, keyword=keyword)
            )
        return known[1]

    def _lost(self, ids: list[int], box: Outbox) -> None:
        with self._changed:
            if self.outbox is box:  # else _mine holds the ids of another outbox now
                self._lost_since_flush += sum(1 for i in ids if i in self._mine)

    def _forget(self, ids: list[int], box: Outbox) -> None:
        """``ids`` of ``box`` were settled (delivered or dead): stop waiting for them."""
        with self._changed:
            if self.outbox is box:
                self._mine.discard(ids)
            self._changed.notify_all()

    def _settle_mine(self) -> None:
        """Stop waiting for rows another process settled (it claimed them for a robot both
        know), counting the dead ones as lost. A few hundred rows a tick, going round: a
        backlog of 100,000 costs no more than one of 500, and the rows of a robot that is held
        back do not hide those of another."""
        with self._changed:
            box = self.outbox
            rows = self._mine.after(self._settle_cursor, SETTLE_CHECK)
            self._settle_cursor = rows[-1] if len(rows) == SETTLE_CHECK else 0
        if not rows:
            return
        states = box.states(rows)
        with self._changed:
            if self.outbox is not box:  # went to memory meanwhile: these ids are not its rows
                return
            dead = [r for r in rows if states.get(r) == "dead"]
            self._lost_since_flush += sum(1 for r in dead if r in self._mine)
            # A row that is gone was purged after it was delivered: nothing to wait for.
            self._mine.discard(r for r in rows if states.get(r) not in ("pending", "sending"))
            self._changed.notify_all()

    # -- run history -------------------------------------------------------------------

    def record(self, run: tuple[Any, ...], *, now: bool) -> None:
        """Record a run: at once (a failure, on the job's thread) or buffered (a success)."""
        if now:
            self.outbox.record_runs([run])
        else:
            self._runs.append(run)

    def _write_runs(self) -> None:
        rows = runs.buffered(report.host_name())
        while self._runs:
            rows.append(self._runs.popleft())
        if rows:
            self.outbox.record_runs(rows)

    @property
    def sending(self) -> bool:
        """Whether a unit is being sent (it may hold other processes' reports)."""
        return bool(self._in_flight)

    def close_runs(self) -> None:
        """Write the buffered runs now (at exit, or before reading the history)."""
        self._write_runs()

    def statuses(self, name: str) -> list[str]:
        """The recorded statuses of job ``name``, newest first (for notify="change")."""
        self._write_runs()
        return [row[2] for row in self.outbox.runs(name, KEEP_RUNS)]


_lock = threading.Lock()
_delivery: Delivery | None = None
_noticed = False
_warned_outbox = False


def get() -> Delivery:
    """This process's Delivery, opening the outbox (or a memory one) on first use."""
    global _delivery
    with _lock:
        if _delivery is None:
            _delivery = Delivery(_open(resolve()))
            with contextlib.suppress(Exception):
                _delivery.know(resolve())
        return _delivery


def _open(settings: Settings) -> Outbox:
    global _warned_outbox
    path = settings.outbox
    if path is not None and path.strip().lower() in ("off", "memory", ":memory:"):
        return Outbox(None)
    path = path or default_path()
    try:
        return Outbox(path)
    except Exception as exc:  # noqa: BLE001 - unwritable, corrupt, full: the job goes on
        if not _warned_outbox:
            _warned_outbox = True
            log.warning(
                "jobwatch: outbox %s is unusable (%s: %s); keeping reports in memory",
                path, type(exc).__name__, exc,
            )
        return Outbox(None)


def submit(
    message: Message, settings: Settings, *, label: str, summary: dict[str, Any] | None = None,
    interrupted: bool = False,
) -> None:
    """Commit ``message`` to the outbox (the worker sends it), or print it in a dry run.

    ``interrupted``: the job is dying of KeyboardInterrupt. Then what sending needs is imported
    here first, since CPython exits 1 instead of by SIGINT when another thread imports modules
    such as ``inspect`` while the interrupt unwinds (see senders.dingtalk.preload).
    """
    if settings.dry_run or not settings.webhook:
        _print_dry_run(message, settings)
        return
    if interrupted:
        preload()
    delivery = get()
    delivery.add(message, settings, summary or {"name": label, "status": "failure"})


def flush(timeout: float | None = None) -> bool:
    """Deliver what this process submitted (and what it can of the outbox for the robots it
    knows): True if all of its reports since the previous flush() were delivered, False if one
    was refused or time ran out."""
    delivery = get()
    with contextlib.suppress(Exception):
        delivery.know(resolve())
    delivery.outbox.due_now(list(delivery.robots))  # retry now what waits for a backoff
    delivery.claim_pending()
    delivery._start()
    return delivery.wait(timeout)


def history(name: str | None = None, limit: int = 50) -> list[runs.RunRecord]:
    """The latest recorded runs on this host, newest first: of job ``name`` or of all."""
    current = get()
    current.close_runs()
    return [runs.RunRecord(*row) for row in current.outbox.runs(name, limit)]


def _print_dry_run(message: Message, settings: Settings) -> None:
    global _noticed
    lines = []
    if not _noticed:
        _noticed = True
        reason = "JOBWATCH_DRY_RUN is set" if settings.dry_run else "no webhook is configured"
        lines.append(
            f"jobwatch: {reason}, so reports are printed here instead of sent to DingTalk."
            " To send them, set JOBWATCH_WEBHOOK (the robot's webhook URL) and JOBWATCH_SECRET"
            " (its SEC... signing secret), or call jobwatch.configure(webhook=..., secret=...)."
        )
    payload = message.payload()
    body = payload.get(payload["msgtype"], {})
    title = body.get("title", payload["msgtype"])
    text = body.get("text") or body.get("content") or ""
    secrets = (settings.secret,)
    lines += [f"----- jobwatch dry run: {title} -----", scrub(text, secrets), "-----"]
    stream = sys.stderr
    if stream is None:  # no stderr (pythonw, a closed descriptor): nowhere to print
        return
    with contextlib.suppress(OSError, ValueError):  # the documented dry run
        stream.write("\n".join(lines) + "\n")
        stream.flush()


def _at_exit() -> None:
    delivery = _delivery
    if delivery is None:
        return
    try:
        delivery.close_runs()
        if delivery.pending or delivery.sending:
            timeout = resolve().flush_timeout
            if not delivery.wait(timeout) and delivery.pending:
                reason = f" (last error: {delivery.last_error})" if delivery.last_error else ""
                where = (
                    "they are lost with this process (the outbox is in memory)"
                    if delivery.outbox.memory
                    else "they stay in the outbox for the next run or `jobwatch flush`"
                )
                log.warning(
                    "jobwatch: %d report(s) not delivered within the %g s flush timeout at"
                    " exit%s; %s", delivery.pending, timeout, reason, where,
                )
    except KeyboardInterrupt:  # a second Ctrl-C: stop waiting, quietly
        log.warning("jobwatch: interrupted at exit; undelivered reports stay in the outbox")
    except Exception as exc:  # noqa: BLE001 - nothing may escape at exit
        log.warning("jobwatch: could not finish delivery at exit: %s", exc)


def reset() -> None:
    """Stop this process's delivery; the next report opens the outbox anew (for tests)."""
    global _delivery
    with _lock:
        current, _delivery = _delivery, None
    if current is not None:
        current.stop()


def _before_fork() -> None:
    """Hold the outbox's lock across fork(), so no SQLite call is half done in the child."""
    current = _delivery
    if current is not None:
        current.outbox._lock.acquire()


def _after_fork_in_parent() -> None:
    current = _delivery
    if current is not None:
        current.outbox._lock.release()


def _after_fork_in_child() -> None:
    """The child starts afresh: its own outbox connection, worker and reports."""
    global _delivery, _lock
    current, _delivery, _lock = _delivery, None, threading.Lock()
    if current is not None:
        current.outbox._lock.release()


atexit.register(_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )
