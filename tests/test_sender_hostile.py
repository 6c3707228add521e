"""DingTalkSender against servers that misbehave: redirects, echoes, trickles, odd answers."""

from __future__ import annotations

import json
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jobwatch import ConfigError, DingTalkError, DingTalkSender, SendError, Text
from jobwatch.testing import FakeDingTalk, Fault, ManualClock

TOKEN = "tok" + "e" * 40 + "n"
SECRET = "SEChostile-secret-value"
Answer = Callable[[BaseHTTPRequestHandler], None]


class Server:
    """A loopback HTTP server whose every POST is answered by ``answer``."""

    def __init__(self, answer: Answer) -> None:
        outer = self
        self.paths: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.paths.append(self.path)
                answer(self)

            do_GET = do_POST

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def reply(handler: BaseHTTPRequestHandler, status: int, body: bytes, **headers: str) -> None:
    handler.send_response(status)
    for name, value in {"Content-Length": str(len(body)), **headers}.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


@pytest.fixture
def serve() -> Iterator[Callable[[Answer], Server]]:
    servers: list[Server] = []

    def start(answer: Answer) -> Server:
        servers.append(Server(answer))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def sender_for(server: Server, **kwargs: object) -> DingTalkSender:
    clock = ManualClock()
    return DingTalkSender(
        f"{server.base}/robot/send?access_token={TOKEN}", secret=SECRET,
        clock=clock, monotonic=clock, sleep=clock.sleep, **kwargs,  # type: ignore[arg-type]
    )


def texts_of(exc: BaseException) -> str:
    """All an exception can show: its text, its chain, and the locals of every frame outside
    this test file (a test's own frames hold the assertion's values)."""
    texts: list[str] = []
    shown: traceback.TracebackException | None = traceback.TracebackException.from_exception(
        exc, capture_locals=True
    )
    while shown is not None:
        texts += [*shown.format_exception_only()]
        texts += [f"{f.name} {f.locals}" for f in shown.stack if f.filename != __file__]
        shown = shown.__cause__ or shown.__context__
    return "\n".join(texts)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_are_not_followed(
    serve: Callable[[Answer], Server], status: int
) -> None:
    """A redirect is a permanent error; the signed request is never replayed elsewhere."""
    elsewhere = serve(lambda h: reply(h, 200, b'{"errcode":0,"errmsg":"ok"}'))
    server = serve(lambda h: reply(h, status, b"", Location=f"{elsewhere.base}/robot/send"))
    with sender_for(server) as sender, pytest.raises(DingTalkError) as caught:
        sender.send(Text("hi"))
    assert caught.value.errmsg == f"HTTP {status}: the webhook URL redirects elsewhere"
    assert (len(server.paths), elsewhere.paths) == (1, [])


def test_plain_404_is_permanent(serve: Callable[[Answer], Server]) -> None:
    """A 404 page (a wrong webhook path) is not retried."""
    server = serve(lambda h: reply(h, 404, b"<html>Not Found</html>"))
    with sender_for(server) as sender, pytest.raises(DingTalkError) as caught:
        sender.send(Text("hi"))
    assert caught.value.errcode is None
    assert "does not look like a DingTalk robot endpoint" in str(caught.value)
    assert len(server.paths) == 1


@pytest.mark.parametrize("errcode", [310000, -1])
def test_echoed_secrets_are_scrubbed(serve: Callable[[Answer], Server], errcode: int) -> None:
    """A server that echoes the request URL in errmsg leaks nothing into errors or tracebacks."""

    def echo(handler: BaseHTTPRequestHandler) -> None:
        query = handler.path.split("?", 1)[1]
        raw = dict(p.split("=", 1) for p in query.split("&"))
        errmsg = f"bad request {handler.path} token {raw['access_token']} sign {raw['sign']}"
        reply(handler, 200, json.dumps({"errcode": errcode, "errmsg": errmsg}).encode())

    server = serve(echo)
    with sender_for(server) as sender, pytest.raises(SendError) as caught:
        sender.send(Text("hi"))
    shown = texts_of(caught.value)
    assert "bad request /robot/send?access_token=***" in shown
    for path in server.paths:
        for part in path.split("?", 1)[1].split("&"):
            assert part.split("=", 1)[1] not in shown
    assert TOKEN not in shown
    assert SECRET not in shown


def test_no_frame_local_holds_the_signed_url(fake_dingtalk: FakeDingTalk) -> None:
    """Tracebacks shown with local variables (pytest -l, Sentry) hold no token or sign."""
    fake_dingtalk.fail_next(Fault(errcode=400105, errmsg="unknown"))
    with (
        DingTalkSender(fake_dingtalk.webhook, secret=fake_dingtalk.secret) as sender,
        pytest.raises(DingTalkError) as caught,
    ):
        sender.send(Text("hi"))
    shown = texts_of(caught.value)
    assert "_attempt" in shown
    assert fake_dingtalk.token not in shown
    assert fake_dingtalk.requests[0].query["sign"] not in shown
    assert caught.value.__context__ is None


def test_exhausted_retries_have_no_context(fake_dingtalk: FakeDingTalk) -> None:
    """SendError after transient failures chains to nothing that could hold the URL."""
    fake_dingtalk.fail_next(*[Fault(status=502)] * 2)
    with (
        DingTalkSender(
            fake_dingtalk.webhook, secret=fake_dingtalk.secret, attempts=2, sleep=lambda s: None
        ) as sender,
        pytest.raises(SendError) as caught,
    ):
        sender.send(Text("hi"))
    assert (caught.value.__cause__, caught.value.__context__) == (None, None)
    assert fake_dingtalk.token not in texts_of(caught.value)


def test_trickling_answer_is_cut_at_the_deadline(serve: Callable[[Answer], Server]) -> None:
    """An answer dripping one byte at a time cannot hold the sender past its deadline."""
    stop = threading.Event()

    def drip(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        for _ in range(200):
            if stop.wait(0.05):
                return
            handler.wfile.write(b" ")
            handler.wfile.flush()

    server = serve(drip)
    with DingTalkSender(
        f"{server.base}/robot/send?access_token={TOKEN}", attempts=1, timeout=1.0, deadline=0.3
    ) as sender:
        started = time.monotonic()
        with pytest.raises(SendError, match=r"the answer took longer than 0\.3 s"):
            sender.send(Text("hi"))
        elapsed = time.monotonic() - started
    stop.set()
    assert elapsed < 5.0  # the drip lasts 10 s; the deadline ends it after about 0.3 s


def test_wrong_secret_in_dingtalks_chinese_wording_is_one_request(
    fake_dingtalk: FakeDingTalk,
) -> None:
    """DingTalk's Chinese sign error names the timestamp in its advice: still not retried."""
    errmsg = "description:机器人发送签名不匹配;solution:请确认签名和生成签名的时间戳必须都是毫秒"
    fake_dingtalk.fail_next(Fault(errcode=310000, errmsg=errmsg))
    with (
        DingTalkSender(fake_dingtalk.webhook, secret=fake_dingtalk.secret) as sender,
        pytest.raises(DingTalkError) as caught,
    ):
        sender.send(Text("hi"))
    assert caught.value.errmsg == errmsg
    assert len(fake_dingtalk.requests) == 1


def test_timestamp_resign_happens_once_per_send(fake_dingtalk: FakeDingTalk) -> None:
    """Between transient failures, a second timestamp refusal is final."""
    stale = Fault(errcode=310000, errmsg="invalid timestamp")
    fake_dingtalk.fail_next(stale, Fault(status=500), stale)
    with (
        DingTalkSender(
            fake_dingtalk.webhook, secret=fake_dingtalk.secret, sleep=lambda s: None
        ) as sender,
        pytest.raises(DingTalkError, match="invalid timestamp"),
    ):
        sender.send(Text("hi"))
    assert [r.errcode for r in fake_dingtalk.requests] == [310000, None, 310000]


def test_threads_do_not_queue_behind_a_slow_request(fake_dingtalk: FakeDingTalk) -> None:
    """Concurrent sends run side by side, each within its own deadline."""
    fake_dingtalk.fail_next(*[Fault(delay=0.5)] * 4)
    errors: list[BaseException] = []
    with DingTalkSender(fake_dingtalk.webhook, secret=fake_dingtalk.secret) as sender:

        def send(n: int) -> None:
            try:
                sender.send(Text(f"m{n}"))
            except BaseException as exc:  # noqa: BLE001 - collected and asserted
                errors.append(exc)

        threads = [threading.Thread(target=send, args=(n,)) for n in range(4)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
    assert errors == []
    assert len(fake_dingtalk.messages) == 4
    assert elapsed < 1.9  # four 0.5 s answers one after another would take 2 s


@pytest.mark.parametrize(
    "webhook",
    [
        "http://[abc/robot/send?access_token=x",
        "http://127.0.0.1:99999/robot/send?access_token=x",
        "http://127.0.0.1:abc/robot/send?access_token=x",
        "https://user:pa55word@oapi.dingtalk.com/robot/send?access_token=x",
    ],
)
def test_malformed_webhook_urls_are_config_errors(webhook: str) -> None:
    """Bad hosts, ports and embedded credentials are refused at construction."""
    with pytest.raises(ConfigError) as caught:
        DingTalkSender(webhook)
    assert "pa55word" not in str(caught.value)


def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                 "ALL_PROXY", "no_proxy", "NO_PROXY", "REQUEST_METHOD"):
        monkeypatch.delenv(name, raising=False)


def test_environment_proxy_carries_the_request(
    serve: Callable[[Answer], Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    """http_proxy in the environment at the first send routes the request through the proxy,
    as requests does (a proxy sees the absolute URL)."""
    proxy = serve(lambda h: reply(h, 200, b'{"errcode":0,"errmsg":"ok"}'))
    _no_proxies(monkeypatch)
    clock = ManualClock()
    sender = DingTalkSender(
        f"http://dingtalk.invalid/robot/send?access_token={TOKEN}", secret=SECRET,
        clock=clock, monotonic=clock, sleep=clock.sleep,
    )
    monkeypatch.setenv("http_proxy", proxy.base)
    assert sender.send(Text("via proxy")).attempts == 1
    assert len(proxy.paths) == 1
    assert proxy.paths[0].startswith(f"http://dingtalk.invalid/robot/send?access_token={TOKEN}&")


def test_no_proxy_bypasses_the_proxy(
    serve: Callable[[Answer], Server], monkeypatch: pytest.MonkeyPatch,
    fake_dingtalk: FakeDingTalk,
) -> None:
    """A webhook host listed in no_proxy is reached directly."""
    proxy = serve(lambda h: reply(h, 200, b'{"errcode":300001,"errmsg":"token is not exist"}'))
    _no_proxies(monkeypatch)
    monkeypatch.setenv("http_proxy", proxy.base)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    with DingTalkSender(fake_dingtalk.webhook, secret=fake_dingtalk.secret) as sender:
        sender.send(Text("direct"))
    assert proxy.paths == []
    assert [m["text"]["content"] for m in fake_dingtalk.messages] == ["direct"]


def test_environment_is_read_once_per_sender(
    serve: Callable[[Answer], Server], monkeypatch: pytest.MonkeyPatch,
    fake_dingtalk: FakeDingTalk,
) -> None:
    """Proxy settings are read at the first send, not per request (requests' per-request
    re-reading of os.environ cost ~20% of a loopback send): a proxy set later is not used."""
    proxy = serve(lambda h: reply(h, 200, b'{"errcode":0,"errmsg":"ok"}'))
    _no_proxies(monkeypatch)
    with DingTalkSender(fake_dingtalk.webhook, secret=fake_dingtalk.secret) as sender:
        sender.send(Text("first"))
        monkeypatch.setenv("http_proxy", proxy.base)
        sender.send(Text("second"))
    assert proxy.paths == []
    assert [m["text"]["content"] for m in fake_dingtalk.messages] == ["first", "second"]


def _cut_chunked(handler: BaseHTTPRequestHandler) -> None:
    """An answer whose chunked body stops in the middle of a chunk."""
    handler.wfile.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        b"\r\n1a\r\n{\"errcode\":0"
    )
    handler.wfile.flush()
    handler.close_connection = True


def test_answer_cut_while_read_is_a_transient_send_error(
    serve: Callable[[Answer], Server],
) -> None:
    """An answer cut off while its body is read (urllib3's and http.client's own errors, not
    requests') is retried like any transient failure, then SendError with no secret in it."""
    server = serve(_cut_chunked)
    sender = sender_for(server, attempts=2)
    with pytest.raises(SendError) as caught:
        sender.send(Text("cut"))
    assert type(caught.value) is SendError
    assert "after 2 request(s)" in str(caught.value)
    assert len(server.paths) == 2
    shown = texts_of(caught.value)
    assert TOKEN not in shown
    assert SECRET not in shown
