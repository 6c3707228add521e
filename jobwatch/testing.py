"""FakeDingTalk: a strict DingTalk robot on 127.0.0.1, for jobwatch's tests and yours.

It checks what the real service checks (access token, Content-Type, JSON, the signature and
its one-hour window, keywords, the schema of the five message types, the 20,000-byte limit,
20 messages per rolling minute and then a throttled penalty window) and answers the way the
real service does: HTTP 200 with an ``errcode``. ``fail_next`` scripts faults for the next
requests. Every request is recorded with its outcome, every accepted message kept.

    with FakeDingTalk(secret="SECtest") as robot:
        DingTalkSender(robot.webhook, secret=robot.secret).send(Text("hi"))
        assert robot.messages[0]["text"]["content"] == "hi"

With pytest, the ``fake_dingtalk`` fixture gives a started one with a random token and secret.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["FakeDingTalk", "Fault", "ManualClock", "Recorded"]

PATH = "/robot/send"
BAN_PAGE = b"<html><body><h1>403</h1><p>x5 sec: access denied</p></body></html>"

# The required string fields of each message type's object.
_SCHEMA: dict[str, tuple[str, ...]] = {
    "text": ("content",),
    "markdown": ("title", "text"),
    "link": ("title", "text", "messageUrl"),
    "actionCard": ("title", "text"),
    "feedCard": (),
}


class ManualClock:
    """A clock that moves only when told to: ``clock()`` reads it, ``sleep(s)`` advances it."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)


@dataclass(frozen=True, slots=True)
class Fault:
    """How to answer one request instead of the normal way.

    ``delay`` waits first; then ``drop`` closes the connection without answering, ``html``
    answers the gateway's ban page, ``errcode`` answers that errcode as JSON, a ``status``
    alone answers that HTTP status with a plain-text body. ``delay`` alone answers normally.
    """

    status: int = 200
    errcode: int | None = None
    errmsg: str = "fault injected by FakeDingTalk"
    delay: float = 0.0
    drop: bool = False
    html: bool = False

    @property
    def answers(self) -> bool:
        """Whether the fault replaces the answer (else it only delays the normal one)."""
        return self.errcode is not None or self.status != 200 or self.drop or self.html


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request as received, and how it was answered."""

    path: str
    raw_query: str = field(repr=False)  # token, timestamp and sign: not in failure output
    query: dict[str, str] = field(repr=False)
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(repr=False)
    status: int
    errcode: int | None
    errmsg: str
    client_port: int = 0
    faulted: bool = False
    at: float = 0.0  # when it arrived, by the fake's clock (to check rates)

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class _State:
    requests: list[Recorded] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    faults: deque[Fault] = field(default_factory=deque)
    sent_at: deque[float] = field(default_factory=deque)
    throttled_until: float = 0.0
    uuids: set[str] = field(default_factory=set)


class _Rejected(Exception):
    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(errcode, errmsg)
        self.errcode, self.errmsg = errcode, errmsg


class FakeDingTalk:
    """A strict fake of DingTalk's robot webhook on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self,
        *,
        token: str | None = None,
        secret: str | None = None,
        keywords: tuple[str, ...] | list[str] = (),
        rate_limit: int = 20,
        rate_window: float = 60.0,
        penalty: float = 600.0,
        penalty_errcode: int = 130101,
        max_body: int = 20_000,
        sign_window: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token = token or secrets.token_hex(32)
        self.secret = secret
        self.keywords = tuple(keywords)
        self.rate_limit, self.rate_window = rate_limit, rate_window
        self.penalty, self.penalty_errcode = penalty, penalty_errcode
        self.max_body, self.sign_window = max_body, sign_window
        self.clock = clock
        self._state = _State()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> FakeDingTalk:
        """Listen on an ephemeral port of 127.0.0.1, in a daemon thread."""
        if self._server is None:
            self._stopping.clear()
            self._server = _Server(("127.0.0.1", 0), _handler_for(self))
            self._thread = threading.Thread(
                target=self._server.serve_forever, args=(0.05,), name="FakeDingTalk", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and close every open connection."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> FakeDingTalk:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"FakeDingTalk(endpoint={self.endpoint!r}, token='***', secret='***')"

    # -- addresses ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port it listens on (RuntimeError before start)."""
        if self._server is None:
            raise RuntimeError("FakeDingTalk is not started")
        return int(self._server.server_address[1])

    @property
    def endpoint(self) -> str:
        """The robot/send URL without the token."""
        return f"http://127.0.0.1:{self.port}{PATH}" if self._server else "(not started)"

    @property
    def webhook(self) -> str:
        """The webhook URL, as a user copies it from the robot's settings."""
        return f"{self.endpoint}?access_token={self.token}"

    def env(self) -> dict[str, str]:
        """Environment variables that point jobwatch at this robot."""
        env = {"JOBWATCH_WEBHOOK": self.webhook}
        if self.secret:
            env["JOBWATCH_SECRET"] = self.secret
        if self.keywords:
            env["JOBWATCH_KEYWORD"] = self.keywords[0]
        return env

    # -- script and records --------------------------------------------------------------

    def fail_next(self, *faults: Fault) -> None:
        """Answer the next requests with these faults, one request each, in order."""
        with self._lock:
            self._state.faults.extend(faults)

    @property
    def requests(self) -> list[Recorded]:
        """Every request received, with how it was answered."""
        with self._lock:
            return list(self._state.requests)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Every accepted message body (duplicates by msgUuid kept once)."""
        with self._lock:
            return list(self._state.messages)

    def reset(self) -> None:
        """Forget records, faults, the rate window and any penalty."""
        with self._lock:
            self._state = _State()

    # -- the service ---------------------------------------------------------------------

    def _take_fault(self) -> Fault | None:
        with self._lock:
            return self._state.faults.popleft() if self._state.faults else None

    def _record(self, recorded: Recorded) -> None:
        with self._lock:
            self._state.requests.append(recorded)

    def _answer(self, query: dict[str, str], ctype: str, body: bytes) -> dict[str, Any]:
        """Check one request like DingTalk; return the accepted message or raise _Rejected."""
        if query.get("access_token") != self.token:
            raise _Rejected(300001, "token is not exist")
        if self.clock() < self._state.throttled_until:
            raise _Rejected(self.penalty_errcode, self._too_fast())
        if not ctype.lower().startswith("application/json"):
            raise _Rejected(43004, "无效的HTTP HEADER Content-Type")
        if len(body) > self.max_body:
            raise _Rejected(460101, f"message too long, exceed {self.max_body} bytes")
        try:
            message = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise _Rejected(40035, "缺少参数 json") from None
        if not isinstance(message, dict):
            raise _Rejected(40035, "缺少参数 json")
        if self.secret is not None:
            self._check_sign(query)
        self._check_schema(message)
        if self.keywords and not any(k in t for k in self.keywords for t in _texts(message)):
            raise _Rejected(310000, "keywords not in content")
        return message

    def _too_fast(self) -> str:
        per = "minute" if self.rate_window == 60 else f"{self.rate_window:g} seconds"
        return f"send too fast, exceed {self.rate_limit} times per {per}"

    def _check_sign(self, query: dict[str, str]) -> None:
        if self.secret is None:
            return
        timestamp, given = query.get("timestamp", ""), query.get("sign", "")
        if not timestamp.isdigit():
            raise _Rejected(310000, "invalid timestamp")
        if abs(self.clock() * 1000 - int(timestamp)) > self.sign_window * 1000:
            raise _Rejected(310000, "invalid timestamp")
        text = f"{timestamp}\n{self.secret}".encode()
        digest = hmac.new(self.secret.encode(), text, hashlib.sha256).digest()
        if not hmac.compare_digest(base64.b64encode(digest).decode(), given):
            raise _Rejected(310000, "sign not match")

    @staticmethod
    def _check_schema(message: dict[str, Any]) -> None:
        msgtype = message.get("msgtype")
        if not isinstance(msgtype, str) or msgtype not in _SCHEMA:
            raise _Rejected(400105, f"不支持的消息类型 msgtype: {msgtype}")
        content = message.get(msgtype)
        if not isinstance(content, dict):
            raise _Rejected(40035, f"缺少参数 {msgtype}")
        for key in _SCHEMA[msgtype]:
            if not isinstance(content.get(key), str) or not content[key]:
                raise _Rejected(40035, f"缺少参数 {msgtype}.{key}")
        if msgtype == "actionCard":
            single = content.get("singleTitle") and content.get("singleURL")
            buttons = content.get("btns")
            if not single and not (isinstance(buttons, list) and buttons and all(
                isinstance(b, dict) and b.get("title") and b.get("actionURL") for b in buttons
            )):
                raise _Rejected(40035, "缺少参数 actionCard.singleURL or actionCard.btns")
        if msgtype == "feedCard":
            links = content.get("links")
            if not isinstance(links, list) or not links or not all(
                isinstance(x, dict) and x.get("title") and x.get("messageURL") and x.get("picURL")
                for x in links
            ):
                raise _Rejected(40035, "缺少参数 feedCard.links")
        at = message.get("at", {})
        if not isinstance(at, dict):
            raise _Rejected(40035, "参数 at 不合法")
        mentioned = [at.get(key) or [] for key in ("atMobiles", "atUserIds")]
        if not all(isinstance(ids, list) and all(isinstance(x, str) for x in ids)
                   for ids in mentioned) or not isinstance(at.get("isAtAll", False), bool):
            raise _Rejected(40035, "参数 at 不合法")
        if sum(map(len, mentioned)) > 50:
            raise _Rejected(40035, "at 人数超过 50")

    def _accept(self, message: dict[str, Any]) -> None:
        """Count the message against the rate window; keep it unless it is a duplicate."""
        now = self.clock()
        with self._lock:
            state = self._state
            while state.sent_at and state.sent_at[0] <= now - self.rate_window:
                state.sent_at.popleft()
            if len(state.sent_at) >= self.rate_limit:
                state.throttled_until = now + self.penalty
                raise _Rejected(self.penalty_errcode, self._too_fast())
            uuid = message.get("msgUuid")
            if isinstance(uuid, str) and uuid in state.uuids:
                return
            state.sent_at.append(now)
            state.messages.append(message)
            if isinstance(uuid, str):
                state.uuids.add(uuid)


def _texts(message: dict[str, Any]) -> Iterator[str]:
    """The visible strings of a message, where DingTalk looks for keywords."""
    content = message.get(message.get("msgtype", ""), {})
    for key in ("content", "title", "text"):
        if isinstance(content.get(key), str):
            yield content[key]
    for link in content.get("links", []) if isinstance(content.get("links"), list) else []:
        if isinstance(link, dict) and isinstance(link.get("title"), str):
            yield link["title"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet when a client hung up (a timeout test, a dropped fault): that is no bug."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


def _handler_for(fake: FakeDingTalk) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 30

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in separate writes; without TCP_NODELAY the client's
            # delayed ACK would add ~40 ms to every answer.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with fake._lock:
                fake._connections.add(self.connection)

        def finish(self) -> None:
            with fake._lock:
                fake._connections.discard(self.connection)
            super().finish()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the records are the log."""

        def do_GET(self) -> None:
            self._reply(405, b"method not allowed", "text/plain")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            headers = {k.lower(): v for k, v in self.headers.items()}
            record = Recorded(
                parts.path, parts.query, query, headers, body, 200, None, "",
                client_port=int(self.client_address[1]), at=fake.clock(),
            )
            fault = fake._take_fault()
            if fault is not None:
                record = replace(record, faulted=True)
                self._fault(fault, record)
                if fault.answers:
                    return
            if parts.path != PATH:
                fake._record(replace(record, status=404, errmsg="not found"))
                self._reply(404, b"<html><body>404 Not Found</body></html>", "text/html")
                return
            try:
                message = fake._answer(query, headers.get("content-type", ""), body)
                fake._accept(message)
            except _Rejected as rejected:
                errcode, errmsg = rejected.errcode, rejected.errmsg
            else:
                errcode, errmsg = 0, "ok"
            fake._record(replace(record, errcode=errcode, errmsg=errmsg))
            self._json(200, {"errcode": errcode, "errmsg": errmsg})

        def _fault(self, fault: Fault, record: Recorded) -> None:
            if fault.delay:
                fake._stopping.wait(fault.delay)
            if not fault.answers:
                return
            fake._record(
                replace(record, status=fault.status, errcode=fault.errcode, errmsg=fault.errmsg)
            )
            if fault.drop:
                self.close_connection = True
            elif fault.html:
                self._reply(fault.status, BAN_PAGE, "text/html")
            elif fault.errcode is not None:
                self._json(fault.status, {"errcode": fault.errcode, "errmsg": fault.errmsg})
            else:
                self._reply(fault.status, f"HTTP {fault.status}".encode(), "text/plain")

        def _json(self, status: int, answer: dict[str, Any]) -> None:
            body = json.dumps(answer, ensure_ascii=False).encode("utf-8")
            self._reply(status, body, "application/json;charset=utf-8")

        def _reply(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
