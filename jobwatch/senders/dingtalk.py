"""DingTalkSender: posts a message to a custom robot, signed, checked and retried.

It knows messages and HTTP, nothing of jobs. Every attempt is signed afresh; every answer's
``errcode`` is read; transient failures are retried (tenacity, kept private here) within a
bounded number of attempts *and* a bounded total time; throttled and permanent answers are
raised at once. requests and tenacity are imported on first use, so importing jobwatch stays
cheap.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, DingTalkError, MessageTooLarge, SendError
from ..messages import Message
from ..scrub import MASK, install_log_filter, scrub
from . import errcodes
from .signing import Webhook

if TYPE_CHECKING:
    import requests

__all__ = ["MAX_BODY_BYTES", "DingTalkSender", "SendResult"]

log = logging.getLogger("jobwatch.sender")

MAX_BODY_BYTES = 20_000
_HEADERS = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "jobwatch"}
_MIN_REQUEST_TIMEOUT = 0.05


@dataclass(frozen=True, slots=True)
class SendResult:
    """What DingTalk said to an accepted message."""

    msg_uuid: str
    attempts: int
    errmsg: str


def _positive(name: str, value: object, *, integer: bool = False) -> Any:
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not value > 0:
        expected = "a positive whole number" if integer else "a positive number of seconds"
        raise ConfigError(f"{name} must be {expected}, got {value!r}")
    return value


def _optional_text(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{name} must be a non-empty str or None")
    return value.strip()


class DingTalkSender:
    """Sends messages to one DingTalk custom robot.

    ``webhook`` is the URL copied from the robot's settings (any http(s) host, so a test
    server works) or a bare access token. ``secret`` is the signing secret (``SEC...``) when
    the robot signs; ``keyword`` is added to every message that lacks it. ``timeout`` bounds
    each request; ``attempts`` and ``deadline`` bound the retries of transient failures.
    ``clock`` (wall seconds, for signing), ``monotonic`` and ``sleep`` can be injected.
    Safe to share between threads; ``close()`` (or ``with``) releases its connections.
    """

    def __init__(
        self,
        webhook: str,
        *,
        secret: str | None = None,
        keyword: str | None = None,
        timeout: float = 10.0,
        attempts: int = 4,
        deadline: float = 30.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._webhook = Webhook.parse(webhook)
        self._secret = _optional_text("secret", secret)
        self.keyword = _optional_text("keyword", keyword)
        self.timeout = float(_positive("timeout", timeout))
        self.attempts = int(_positive("attempts", attempts, integer=True))
        self.deadline = float(_positive("deadline", deadline))
        self._clock, self._monotonic, self._sleep = clock, monotonic, sleep
        self._session: requests.Session | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        secret = MASK if self._secret else None
        return (
            f"DingTalkSender(webhook={self._webhook.display()!r}, secret={secret!r},"
            f" keyword={self.keyword!r})"
        )

    def __enter__(self) -> DingTalkSender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close pooled connections; the sender opens new ones if used again."""
        with self._lock:
            session, self._session = self._session, None
        if session is not None:
            session.close()

    def _scrub(self, text: str) -> str:
        return scrub(text, (self._webhook.token, self._secret))

    def encode(self, message: Message, msg_uuid: str) -> bytes:
        """The request body for ``message``: compact UTF-8 JSON, keyword applied."""
        if self.keyword is not None:
            message = message.with_keyword(self.keyword)
        payload = message.payload()
        payload["msgUuid"] = msg_uuid
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def send(self, message: Message, *, msg_uuid: str | None = None) -> SendResult:
        """Deliver ``message``; raise Throttled, DingTalkError, MessageTooLarge or SendError.

        ``msg_uuid`` is DingTalk's idempotency key; the same one is used for every attempt,
        and a caller that stores it can reuse it after a crash.
        """
        if not hasattr(message, "payload") or not hasattr(message, "with_keyword"):
            raise TypeError(f"send() takes a jobwatch message, not {type(message).__name__}")
        msg_uuid = msg_uuid or uuid.uuid4().hex
        body = self.encode(message, msg_uuid)
        if len(body) > MAX_BODY_BYTES:
            raise MessageTooLarge(len(body), MAX_BODY_BYTES)
        from ._retry import policy

        started = self._monotonic()
        retrying = policy(
            retry_on=errcodes.Transient,
            attempts=self.attempts,
            deadline=self.deadline,
            monotonic=self._monotonic,
            sleep=self._sleep,
            on_retry=self._log_retry,
        )
        try:
            errmsg = retrying(self._attempt, body, started, msg_uuid)
        except errcodes.Transient as exc:
            attempts = retrying.statistics.get("attempt_number", 1)
            raise SendError(
                f"could not deliver to DingTalk ({self._webhook.display()}) after {attempts}"
                f" attempt(s) in {self._monotonic() - started:.1f} s: {exc}"
            ) from None
        return SendResult(msg_uuid, retrying.statistics.get("attempt_number", 1), errmsg)

    def _log_retry(self, attempt: int, error: BaseException | None, wait: float) -> None:
        log.debug(
            "attempt %d to %s failed (%s); retrying in %.2f s",
            attempt, self._webhook.display(), error, wait,
        )

    def _attempt(self, body: bytes, started: float, msg_uuid: str) -> str:
        """One attempt, plus one re-signed retry when DingTalk doubts the timestamp."""
        try:
            return self._post(body, started, msg_uuid)
        except DingTalkError as exc:
            if not errcodes.is_timestamp_error(exc):
                raise
            log.debug("DingTalk refused the timestamp; re-signing once (is the clock right?)")
            return self._post(body, started, msg_uuid)

    def _post(self, body: bytes, started: float, msg_uuid: str) -> str:
        import requests

        remaining = self.deadline - (self._monotonic() - started)
        timeout = max(min(self.timeout, remaining), _MIN_REQUEST_TIMEOUT)
        timestamp_ms = int(self._clock() * 1000) if self._secret else None
        url = self._webhook.url(secret=self._secret, timestamp_ms=timestamp_ms)
        log.debug(
            "POST %s (%d bytes, msgUuid %s, timeout %.2f s)",
            self._webhook.display(), len(body), msg_uuid, timeout,
        )
        # requests' errors hold the signed URL: keep only a scrubbed text of them, and raise
        # outside the except block so that no __context__ leads back to the original.
        failure: errcodes.Transient | None = None
        try:
            with self._lock:
                response = self._open().post(url, data=body, headers=_HEADERS, timeout=timeout)
                status, content = response.status_code, response.content
        except requests.Timeout:
            failure = errcodes.Transient(f"no answer within {timeout:.2f} s")
        except requests.RequestException as exc:
            failure = errcodes.Transient(self._scrub(f"{type(exc).__name__}: {exc}"))
        if failure is not None:
            raise failure
        try:
            errmsg = errcodes.check_answer(status, content)
        except DingTalkError as exc:
            log.debug("DingTalk answered errcode %s: %s", exc.errcode, self._scrub(exc.errmsg))
            raise
        log.debug("DingTalk accepted msgUuid %s: %s", msg_uuid, errmsg)
        return errmsg

    def _open(self) -> requests.Session:
        """The pooled session, made on first use (caller holds the lock)."""
        if self._session is None:
            import requests
            from requests.adapters import HTTPAdapter

            install_log_filter()
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=4, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._session = session
        return self._session
