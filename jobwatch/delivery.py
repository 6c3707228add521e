"""Delivery: every rendered message goes through ``submit``; a background worker sends it.

The job's thread only enqueues: sending, retrying and waiting happen on one daemon worker
thread per process. At interpreter exit the process waits at most ``flush_timeout`` seconds
for the queue to drain. With no webhook configured (or ``dry_run``), the message is printed to
stderr instead, with a one-time notice saying how to configure a webhook.

This in-memory queue is the interim delivery; a durable SQLite outbox replaces it without
changing ``submit`` and ``flush``.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import logging
import os
import sys
import threading
import time

from .config import Settings, resolve
from .errors import DingTalkError, SendError, Throttled
from .messages import Message
from .senders.dingtalk import DingTalkSender, preload

__all__ = ["flush", "submit"]

log = logging.getLogger("jobwatch")

_Route = tuple[str, "str | None", "str | None"]  # webhook, secret, keyword


class _Worker:
    """One daemon thread that sends queued messages, one sender per robot."""

    def __init__(self) -> None:
        self._queue: collections.deque[tuple[int, Message, _Route, str]] = collections.deque()
        self._changed = threading.Condition()
        self._submitted = self._done = self._flushed = 0
        self._lost: collections.deque[int] = collections.deque(maxlen=1000)
        self._senders: dict[_Route, DingTalkSender] = {}
        self._paused: dict[_Route, float] = {}
        self._thread = threading.Thread(target=self._run, name="jobwatch-delivery", daemon=True)
        self._thread.start()

    def put(self, message: Message, route: _Route, label: str) -> None:
        with self._changed:
            self._submitted += 1
            self._queue.append((self._submitted, message, route, label))
            self._changed.notify_all()

    def wait(self, timeout: float | None) -> bool:
        """Wait for what was submitted so far; True if all of it since the last wait arrived."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            start, target = self._flushed, self._submitted
            while self._done < target:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._changed.wait(left)
            self._flushed = max(self._flushed, target)
            return not any(start < seq <= target for seq in self._lost)

    @property
    def pending(self) -> int:
        return self._submitted - self._done

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._queue:
                    self._changed.wait()
                seq, message, route, label = self._queue.popleft()
            delivered = False
            try:
                delivered = self._send(message, route, label)
            finally:
                with self._changed:
                    self._done += 1
                    if not delivered:
                        self._lost.append(seq)
                    self._changed.notify_all()

    def _send(self, message: Message, route: _Route, label: str) -> bool:
        paused = self._paused.get(route, 0.0) - time.monotonic()
        if paused > 0:
            log.warning(
                "jobwatch: report of %r not sent: the robot is throttled for %.0f s more",
                label, paused,
            )
            return False
        try:
            sender = self._senders.get(route)
            if sender is None:
                webhook, secret, keyword = route
                sender = self._senders[route] = DingTalkSender(
                    webhook, secret=secret, keyword=keyword
                )
            sender.send(message)
            return True
        except Throttled as exc:
            self._paused[route] = time.monotonic() + exc.retry_after
            log.warning("jobwatch: report of %r not sent, robot throttled: %s", label, exc)
        except DingTalkError as exc:
            log.error("jobwatch: DingTalk refused the report of %r: %s", label, exc)
        except SendError as exc:
            log.warning("jobwatch: could not send the report of %r: %s", label, exc)
        except Exception as exc:  # noqa: BLE001 - the worker must survive anything
            log.error("jobwatch: internal error sending the report of %r: %r", label, exc)
        return False


_lock = threading.Lock()
_worker: _Worker | None = None
_noticed = False


def _get_worker() -> _Worker:
    global _worker
    with _lock:
        if _worker is None:
            _worker = _Worker()
        return _worker


def submit(
    message: Message, settings: Settings, *, label: str, interrupted: bool = False
) -> None:
    """Send ``message`` in the background, or print it in a dry run. Never blocks on I/O.

    ``interrupted``: the job is dying of KeyboardInterrupt. Then what sending needs is imported
    here first, since CPython exits 1 instead of by SIGINT when another thread imports modules
    such as ``inspect`` while the interrupt unwinds (see senders.dingtalk.preload).
    """
    if settings.dry_run or not settings.webhook:
        _print_dry_run(message, settings)
        return
    if interrupted:
        preload()
    _get_worker().put(message, (settings.webhook, settings.secret, settings.keyword), label)


def flush(timeout: float | None = None) -> bool:
    """Wait until every report submitted so far is handled: True if all of those submitted
    since the previous flush() were delivered, False if one was not or time ran out."""
    worker = _worker
    return True if worker is None else worker.wait(timeout)


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
    lines += [f"----- jobwatch dry run: {title} -----", text, "-----"]
    stream = sys.stderr
    if stream is None:  # no stderr (pythonw, a closed descriptor): nowhere to print
        return
    with contextlib.suppress(OSError, ValueError):  # the documented dry run
        stream.write("\n".join(lines) + "\n")
        stream.flush()


def _at_exit() -> None:
    worker = _worker
    if worker is None or not worker.pending:
        return
    timeout = resolve().flush_timeout
    try:
        if not worker.wait(timeout) and worker.pending:
            log.warning(
                "jobwatch: %d report(s) not delivered within the %g s flush timeout at exit",
                worker.pending, timeout,
            )
    except KeyboardInterrupt:  # a second Ctrl-C: stop waiting, quietly
        log.warning("jobwatch: interrupted at exit; %d report(s) not delivered", worker.pending)


def _after_fork_in_child() -> None:
    global _worker, _lock
    _worker, _lock = None, threading.Lock()


atexit.register(_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
