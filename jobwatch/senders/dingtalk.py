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

from ..errors import ConfigError, DingTalkError, MessageTooLarge, SendError, Throttled
from ..messages import Message
from ..scrub import MASK, install_log_filter, scrub
from . import errcodes
from .signing import Webhook, sign

if TYPE_CHECKING:
    import requests

__all__ = ["MAX_BODY_BYTES", "DingTalkSender", "SendResult", "preload"]

log = logging.getLogger("jobwatch.sender")

MAX_BODY_BYTES = 20_000
_HEADERS = {
    "Content-Type": "application/json; charset=utf-8",
    "Accept-Encoding": "identity",
    "User-Agent": "jobwatch",
}
_MIN_REQUEST_TIMEOUT = 0.05
_MAX_ANSWER_BYTES = 64 * 1024


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
    Proxy and CA settings (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE...) are read from the
    environment at the first send, as requests reads them; a ~/.netrc is not used.
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

        state = _Send(body, msg_uuid, self._monotonic())
        retrying = policy(
            retry_on=errcodes.Transient,
            attempts=self.attempts,
            deadline=self.deadline,
            monotonic=self._monotonic,
            sleep=self._sleep,
            on_retry=self._log_retry,
        )
        failure: errcodes.Transient | None = None
        try:
            errmsg = retrying(self._attempt, state)
        except errcodes.Transient as exc:
            failure = exc
        if failure is not None:  # raised here, so no __context__ leads to lower-level errors
            raise SendError(
                f"could not deliver to DingTalk ({self._webhook.display()}) after"
                f" {state.requests} request(s) in {self._monotonic() - state.started:.1f} s:"
                f" {failure}"
            )
        return SendResult(msg_uuid, state.requests, errmsg)

    def _log_retry(self, attempt: int, error: BaseException | None, wait: float) -> None:
        log.debug(
            "attempt %d to %s failed (%s); retrying in %.2f s",
            attempt, self._webhook.display(), error, wait,
        )

    def _attempt(self, state: _Send) -> str:
        """One attempt, plus one re-signed request per send when DingTalk doubts the timestamp.

        Errors come back from ``_exchange`` as objects with no traceback, and are raised here:
        no frame that held the signed URL is ever part of an exception jobwatch raises.
        """
        while True:
            answer = self._exchange(state)
            if isinstance(answer, str):
                log.debug("DingTalk accepted msgUuid %s: %s", state.msg_uuid, answer)
                return answer
            if isinstance(answer, DingTalkError):
                log.debug("DingTalk answered errcode %s: %s", answer.errcode, answer.errmsg)
                if not state.resigned and errcodes.is_timestamp_error(answer):
                    state.resigned = True
                    log.debug("DingTalk refused the timestamp; re-signing once (clock right?)")
                    continue
            raise answer

    def _exchange(self, state: _Send) -> str | errcodes.Transient | DingTalkError:
        """Sign, post and read one answer: the errmsg, or the error to raise (scrubbed)."""
        import http.client

        import requests
        import urllib3

        state.requests += 1
        remaining = self.deadline - (self._monotonic() - state.started)
        timeout = max(min(self.timeout, remaining), _MIN_REQUEST_TIMEOUT)
        timestamp_ms = int(self._clock() * 1000) if self._secret else None
        url = self._webhook.url(secret=self._secret, timestamp_ms=timestamp_ms)
        secrets: tuple[str | None, ...] = (self._webhook.token, self._secret)
        if self._secret and timestamp_ms is not None:
            secrets += (sign(self._secret, timestamp_ms), str(timestamp_ms))
        log.debug(
            "POST %s (%d bytes, msgUuid %s, timeout %.2f s)",
            self._webhook.display(), len(state.body), state.msg_uuid, timeout,
        )
        try:
            response = self._open().post(
                url, data=state.body, headers=_HEADERS, timeout=timeout, stream=True,
                allow_redirects=False,
            )
            with response:
                content = self._read(response, state)
            if content is None:
                return errcodes.Transient(f"the answer took longer than {self.deadline:g} s")
            errmsg = errcodes.check_answer(response.status_code, content)
        except requests.Timeout:
            return errcodes.Transient(f"no answer within {timeout:.2f} s")
        except (errcodes.Transient, DingTalkError) as exc:
            return _scrubbed(exc, secrets)
        except (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError) as exc:
            # requests' errors are OSErrors; reading the answer also raises urllib3's and
            # http.client's own (a cut chunked body, a read timeout): transient all the same.
            return errcodes.Transient(scrub(f"{type(exc).__name__}: {exc}", secrets))
        return scrub(errmsg, secrets)

    def _read(self, response: requests.Response, state: _Send) -> bytes | None:
        """The answer's body, read within the deadline (None: too slow) and capped in size.

        requests' timeout bounds each socket read, not the whole answer: a server that drips
        a byte at a time could hold the sender for ever. So read what has arrived (``read1``,
        uncompressed since we ask for ``identity``) and check the deadline in between.
        """
        raw = response.raw
        read, finished = getattr(raw, "read1", None), None
        if read is None:  # urllib3 1.x: its http.client response has read1, then say when done
            read = getattr(getattr(raw, "_fp", None), "read1", None)
            finished = getattr(raw, "release_conn", None) if read else None
            read = read or (lambda amt: raw.read(1))
        chunks, size = [], 0
        while size <= _MAX_ANSWER_BYTES:
            chunk = read(4096)
            if not chunk:
                if finished is not None:  # what urllib3 1.x does at the end of its own reads:
                    finished()  # the kept-alive connection goes back to the pool
                break
            chunks.append(chunk)
            size += len(chunk)
            if self._monotonic() - state.started > self.deadline:
                return None
        return b"".join(chunks)

    def _open(self) -> requests.Session:
        """The pooled session, made on first use; urllib3's pool is shared safely by threads."""
        with self._lock:
            if self._session is None:
                import requests
                from requests.adapters import HTTPAdapter

                install_log_filter()
                session = requests.Session()
                adapter = HTTPAdapter(pool_connections=1, pool_maxsize=16, max_retries=0)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                # The environment (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE...) is read once,
                # here, for the one endpoint this sender posts to: requests would re-read and
                # re-parse all of os.environ twice per request, ~20% of a loopback send.
                found = session.merge_environment_settings(
                    self._webhook.endpoint, {}, None, None, None
                )
                session.trust_env = False
                session.proxies.update(found["proxies"])
                session.verify = found["verify"]
                self._session = session
            return self._session


def preload() -> None:
    """Import what sending needs (requests, tenacity) on the calling thread.

    Delivery calls this on the job's thread before handing a message to its worker thread:
    CPython forgets that the main thread is dying of an uncaught KeyboardInterrupt (and exits 1
    instead of by SIGINT) when another thread imports modules such as ``inspect`` while the
    exception unwinds, which is exactly when a worker would otherwise import tenacity.
    """
    import requests.adapters  # noqa: F401 - requests with it

    from . import _retry  # noqa: F401


@dataclass(slots=True)
class _Send:
    """The state of one send() across its attempts."""

    body: bytes
    msg_uuid: str
    started: float
    requests: int = 0
    resigned: bool = False


def _scrubbed(
    error: errcodes.Transient | DingTalkError, secrets: tuple[str | None, ...]
) -> errcodes.Transient | DingTalkError:
    """The same error with secrets scrubbed from its text and no traceback."""
    if isinstance(error, Throttled):
        return Throttled(error.errcode, scrub(error.errmsg, secrets), error.retry_after)
    if isinstance(error, DingTalkError):
        return type(error)(error.errcode, scrub(error.errmsg, secrets), error.hint)
    return errcodes.Transient(scrub(str(error), secrets))
