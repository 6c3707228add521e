"""FakeDingTalk itself: its strictness and its features, checked over real HTTP with requests."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import requests

from jobwatch import DingTalkSender, Text
from jobwatch.senders.signing import sign
from jobwatch.testing import FakeDingTalk, Fault, ManualClock

TOKEN = "faketoken0123456789abcdef"
SECRET = "SECtest"
START = 1_700_000_000.0
NOW_MS = 1_700_000_000_000
OK = {"errcode": 0, "errmsg": "ok"}
THROTTLED = {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
JSON_TYPE = "application/json; charset=utf-8"
TIMEOUT = 5.0


def text(content: str = "hello", **extra: Any) -> dict[str, Any]:
    return {"msgtype": "text", "text": {"content": content}, **extra}


def signed_url(fake: FakeDingTalk, timestamp_ms: int = NOW_MS, secret: str = SECRET) -> str:
    query = {"access_token": fake.token, "timestamp": timestamp_ms,
             "sign": sign(secret, timestamp_ms)}
    return f"{fake.endpoint}?{urlencode(query)}"


def post(session: requests.Session, url: str, body: Any, ctype: str = JSON_TYPE) -> Any:
    """POST a JSON value (or raw bytes); return the decoded JSON answer of an HTTP 200."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    with session.post(url, data=data, headers={"Content-Type": ctype}, timeout=TIMEOUT) as resp:
        assert resp.status_code == 200
        return resp.json()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def fake(clock: ManualClock) -> Iterator[FakeDingTalk]:
    with FakeDingTalk(token=TOKEN, secret=SECRET, clock=clock) as robot:
        yield robot


@pytest.fixture
def plain(clock: ManualClock) -> Iterator[FakeDingTalk]:
    with FakeDingTalk(token=TOKEN, clock=clock) as robot:
        yield robot


# -- acceptance and request checks ----------------------------------------------------------


def test_signed_text_is_accepted_kept_and_recorded(fake: FakeDingTalk, http: requests.Session):
    """A correctly signed text message is answered ok, kept, and recorded with errcode 0."""
    assert post(http, signed_url(fake), text("hi")) == OK
    assert fake.messages == [text("hi")]
    assert len(fake.requests) == 1
    assert (fake.requests[-1].errcode, fake.requests[-1].errmsg) == (0, "ok")


@pytest.mark.parametrize("message", [
    text("t"),
    {"msgtype": "markdown", "markdown": {"title": "t", "text": "# t"}},
    {"msgtype": "link", "link": {"title": "t", "text": "x", "messageUrl": "https://e.x"}},
    {"msgtype": "actionCard", "actionCard": {"title": "t", "text": "x", "singleTitle": "go",
                                             "singleURL": "https://e.x"}},
    {"msgtype": "actionCard", "actionCard": {"title": "t", "text": "x",
                                             "btns": [{"title": "go", "actionURL": "https://e.x"}]}},
    {"msgtype": "feedCard", "feedCard": {"links": [
        {"title": "t", "messageURL": "https://e.x", "picURL": "https://e.x/p.png"}]}},
], ids=["text", "markdown", "link", "actionCard-single", "actionCard-btns", "feedCard"])
def test_each_message_type_is_accepted(plain: FakeDingTalk, http, message: dict[str, Any]):
    """A well-formed message of each of the five types is accepted and kept."""
    assert post(http, plain.webhook, message) == OK
    assert plain.messages == [message]


def test_wrong_token_is_300001(fake: FakeDingTalk, http: requests.Session):
    """An unknown access_token is answered 300001 and nothing is kept."""
    url = signed_url(fake).replace(TOKEN, "othertoken")
    assert post(http, url, text()) == {"errcode": 300001, "errmsg": "token is not exist"}
    assert fake.messages == []


def test_wrong_content_type_is_43004(fake: FakeDingTalk, http: requests.Session):
    """A body sent as text/plain is answered 43004."""
    answer = post(http, signed_url(fake), text(), ctype="text/plain")
    assert answer == {"errcode": 43004, "errmsg": "无效的HTTP HEADER Content-Type"}


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b"", b"[1, 2]"])
def test_invalid_json_is_40035(fake: FakeDingTalk, http: requests.Session, body: bytes):
    """A body that is not a JSON object is answered 40035."""
    assert post(http, signed_url(fake), body) == {"errcode": 40035, "errmsg": "缺少参数 json"}


def test_body_over_max_is_460101_and_limit_itself_accepted(fake: FakeDingTalk, http):
    """A body of max_body bytes is accepted; one byte more is answered 460101."""
    filler = 20_000 - len(json.dumps(text("")).encode())
    assert post(http, signed_url(fake), text("x" * filler)) == OK
    answer = post(http, signed_url(fake), text("x" * (filler + 1)))
    assert answer == {"errcode": 460101, "errmsg": "message too long, exceed 20000 bytes"}
    assert len(fake.messages) == 1


def test_unknown_msgtype_is_400105(fake: FakeDingTalk, http: requests.Session):
    """A msgtype outside the five is answered 400105."""
    answer = post(http, signed_url(fake), {"msgtype": "image", "image": {"url": "x"}})
    assert answer == {"errcode": 400105, "errmsg": "不支持的消息类型 msgtype: image"}


@pytest.mark.parametrize(("message", "errmsg"), [
    ({"msgtype": "text"}, "缺少参数 text"),
    ({"msgtype": "text", "text": {}}, "缺少参数 text.content"),
    ({"msgtype": "markdown", "markdown": {"text": "x"}}, "缺少参数 markdown.title"),
    ({"msgtype": "markdown", "markdown": {"title": "x"}}, "缺少参数 markdown.text"),
    ({"msgtype": "link", "link": {"title": "t", "text": "x", "messageURL": "https://e.x"}},
     "缺少参数 link.messageUrl"),
    ({"msgtype": "actionCard", "actionCard": {"title": "t", "text": "x"}},
     "缺少参数 actionCard.singleURL or actionCard.btns"),
    ({"msgtype": "actionCard", "actionCard": {"title": "t", "text": "x", "singleTitle": "go"}},
     "缺少参数 actionCard.singleURL or actionCard.btns"),
    ({"msgtype": "feedCard", "feedCard": {}}, "缺少参数 feedCard.links"),
    ({"msgtype": "feedCard", "feedCard": {"links": [{"title": "t", "messageURL": "https://e.x"}]}},
     "缺少参数 feedCard.links"),
], ids=["text", "text.content", "markdown.title", "markdown.text", "link.messageUrl",
        "actionCard-none", "actionCard-no-singleURL", "feedCard.links", "feedCard-no-picURL"])
def test_missing_required_field_is_40035(plain: FakeDingTalk, http, message, errmsg: str):
    """A message missing a field its type requires is answered 40035 and not kept."""
    assert post(http, plain.webhook, message) == {"errcode": 40035, "errmsg": errmsg}
    assert plain.messages == []


@pytest.mark.parametrize(("message", "errcode"), [
    ({"msgtype": ["text"], "text": {"content": "x"}}, 400105),
    (text(at={"atMobiles": 5}), 40035),
], ids=["unhashable-msgtype", "atMobiles-not-a-list"])
def test_malformed_values_get_an_errcode(plain: FakeDingTalk, http, message, errcode: int):
    """Values of the wrong JSON type are answered with an errcode, not a dropped connection."""
    assert post(http, plain.webhook, message)["errcode"] == errcode


# -- signing ----------------------------------------------------------------------------------


def test_wrong_sign_is_sign_not_match(fake: FakeDingTalk, http: requests.Session):
    """A sign made with another secret is answered 310000 sign not match."""
    answer = post(http, signed_url(fake, secret="SECother"), text())
    assert answer == {"errcode": 310000, "errmsg": "sign not match"}
    assert fake.messages == []


def test_double_encoded_sign_is_sign_not_match(fake: FakeDingTalk, http: requests.Session):
    """A sign URL-encoded twice (+ sent as %252B) is answered 310000 sign not match."""
    ts = NOW_MS + 1
    query = {"access_token": TOKEN, "timestamp": ts, "sign": quote(sign(SECRET, ts), safe="")}
    url = f"{fake.endpoint}?{urlencode(query)}"
    assert "%252B" in url
    assert post(http, url, text()) == {"errcode": 310000, "errmsg": "sign not match"}


def test_missing_timestamp_is_invalid_timestamp(fake: FakeDingTalk, http: requests.Session):
    """A signed request without a timestamp is answered 310000 invalid timestamp."""
    url = f"{fake.endpoint}?{urlencode({'access_token': TOKEN, 'sign': sign(SECRET, NOW_MS)})}"
    assert post(http, url, text()) == {"errcode": 310000, "errmsg": "invalid timestamp"}


@pytest.mark.parametrize("offset_ms", [3_600_001, -3_600_001])
def test_timestamp_over_an_hour_away_is_invalid(fake: FakeDingTalk, http, offset_ms: int):
    """A correct sign over a timestamp more than one hour off the clock is rejected."""
    answer = post(http, signed_url(fake, NOW_MS + offset_ms), text())
    assert answer == {"errcode": 310000, "errmsg": "invalid timestamp"}


@pytest.mark.parametrize("offset_ms", [3_600_000, -3_600_000])
def test_timestamp_one_hour_away_is_accepted(fake: FakeDingTalk, http, offset_ms: int):
    """A correct sign over a timestamp exactly one hour off the clock is accepted."""
    assert post(http, signed_url(fake, NOW_MS + offset_ms), text()) == OK


def test_without_secret_unsigned_is_accepted(plain: FakeDingTalk, http: requests.Session):
    """A fake without a secret accepts an unsigned request."""
    assert post(http, plain.webhook, text()) == OK
    assert len(plain.messages) == 1


# -- keywords ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("message", "expected"), [
    (text("nothing here"), {"errcode": 310000, "errmsg": "keywords not in content"}),
    (text("nightly backup done"), OK),
    ({"msgtype": "markdown", "markdown": {"title": "deploy", "text": "x"}}, OK),
], ids=["none", "text-backup", "markdown-title-deploy"])
def test_keywords(clock: ManualClock, http, message: dict[str, Any], expected: dict[str, Any]):
    """A message must contain one of the keywords, or is answered 310000."""
    with FakeDingTalk(token=TOKEN, keywords=["backup", "deploy"], clock=clock) as fake:
        assert post(http, fake.webhook, message) == expected
        assert len(fake.messages) == (expected == OK)


# -- rate limit -------------------------------------------------------------------------------


def test_21st_message_in_a_minute_is_throttled(plain: FakeDingTalk, http: requests.Session):
    """Twenty messages are accepted, the 21st is answered 130101 and not kept."""
    answers = [post(http, plain.webhook, text(f"m{i}")) for i in range(21)]
    assert answers == [OK] * 20 + [THROTTLED]
    assert len(plain.messages) == 20


def test_requests_record_when_they_arrived(plain: FakeDingTalk, http, clock: ManualClock):
    """Each recorded request carries the fake's clock at arrival (to check send rates)."""
    post(http, plain.webhook, text())
    clock.advance(12.5)
    post(http, plain.webhook, text())
    assert [r.at for r in plain.requests] == [START, START + 12.5]


def test_window_rolls_without_penalty(plain: FakeDingTalk, http, clock: ManualClock):
    """Twenty messages, then 60 s later twenty more, are all accepted."""
    for _ in range(2):
        assert [post(http, plain.webhook, text()) for _ in range(20)] == [OK] * 20
        clock.advance(60)
    assert len(plain.messages) == 40


def test_penalty_lasts_ten_minutes(plain: FakeDingTalk, http, clock: ManualClock):
    """Once throttled, the robot answers 130101 for 600 s, even after the window rolled."""
    for _ in range(21):
        post(http, plain.webhook, text())
    clock.advance(61)
    assert post(http, plain.webhook, text()) == THROTTLED
    clock.advance(538)
    assert post(http, plain.webhook, text()) == THROTTLED
    clock.advance(1)
    assert post(http, plain.webhook, text()) == OK
    assert len(plain.messages) == 21


def test_rate_limit_is_configurable(clock: ManualClock, http: requests.Session):
    """rate_limit, rate_window, penalty and penalty_errcode change the throttling."""
    with FakeDingTalk(token=TOKEN, rate_limit=3, rate_window=10, penalty=30,
                      penalty_errcode=410100, clock=clock) as fake:
        codes = [post(http, fake.webhook, text())["errcode"] for _ in range(4)]
        assert codes == [0, 0, 0, 410100]
        clock.advance(29)
        assert post(http, fake.webhook, text())["errcode"] == 410100
        clock.advance(1)
        assert post(http, fake.webhook, text()) == OK
        assert len(fake.messages) == 4


def test_duplicate_msguuid_is_kept_once(plain: FakeDingTalk, http: requests.Session):
    """A second post with the same msgUuid is answered ok but kept only once."""
    message = text("once", msgUuid="u-1")
    assert [post(http, plain.webhook, message) for _ in range(2)] == [OK, OK]
    assert plain.messages == [message]
    assert len(plain.requests) == 2


# -- faults -----------------------------------------------------------------------------------


def test_fault_status_500_is_plain_text(plain: FakeDingTalk, http: requests.Session):
    """Fault(status=500) answers HTTP 500 with a plain-text body."""
    plain.fail_next(Fault(status=500))
    with http.post(plain.webhook, json=text(), timeout=TIMEOUT) as resp:
        assert (resp.status_code, resp.text) == (500, "HTTP 500")
        assert resp.headers["Content-Type"] == "text/plain"


def test_fault_errcode_is_json(plain: FakeDingTalk, http: requests.Session):
    """Fault(errcode=-1) answers HTTP 200 with that errcode as JSON."""
    plain.fail_next(Fault(errcode=-1, errmsg="system busy"))
    assert post(http, plain.webhook, text()) == {"errcode": -1, "errmsg": "system busy"}
    assert plain.messages == []


def test_fault_drop_is_a_connection_error(plain: FakeDingTalk, http: requests.Session):
    """Fault(drop=True) closes the connection unanswered: the client sees ConnectionError."""
    plain.fail_next(Fault(drop=True))
    with pytest.raises(requests.ConnectionError):
        http.post(plain.webhook, json=text(), timeout=TIMEOUT)
    assert plain.messages == []


def test_fault_html_is_an_html_page(plain: FakeDingTalk, http: requests.Session):
    """Fault(html=True) answers the gateway's HTML ban page."""
    plain.fail_next(Fault(html=True))
    with http.post(plain.webhook, json=text(), timeout=TIMEOUT) as resp:
        assert resp.headers["Content-Type"] == "text/html"
        assert resp.text.startswith("<html>")


def test_faults_are_consumed_in_order(plain: FakeDingTalk, http: requests.Session):
    """Each fault answers one request, in order; then normal answers resume."""
    plain.fail_next(Fault(status=502), Fault(errcode=-1), Fault(status=503))
    statuses = []
    for i in range(4):
        with http.post(plain.webhook, json=text(f"m{i}"), timeout=TIMEOUT) as resp:
            statuses.append((resp.status_code, resp.json() if resp.status_code == 200 else None))
    busy = {"errcode": -1, "errmsg": "fault injected by FakeDingTalk"}
    assert statuses == [(502, None), (200, busy), (503, None), (200, OK)]
    assert plain.messages == [text("m3")]


def test_fault_delay_alone_answers_normally(plain: FakeDingTalk, http: requests.Session):
    """Fault(delay=...) alone delays the answer, then accepts the message as usual."""
    plain.fail_next(Fault(delay=0.2))
    assert post(http, plain.webhook, text()) == OK
    assert plain.messages == [text()]


@pytest.mark.parametrize("fault", [
    Fault(status=500), Fault(errcode=-1), Fault(drop=True), Fault(html=True), Fault(delay=0.01),
], ids=["status", "errcode", "drop", "html", "delay"])
def test_faulted_request_is_recorded_as_faulted(plain: FakeDingTalk, fault: Fault):
    """A request answered by a scripted fault is recorded with faulted=True."""
    plain.fail_next(fault)
    with requests.Session() as session:
        try:
            session.post(plain.webhook, json=text(), timeout=TIMEOUT).close()
        except requests.ConnectionError:
            assert fault.drop
    assert [r.faulted for r in plain.requests] == [True]


# -- connections, records and addresses ----------------------------------------------------


def test_session_reuses_one_connection(plain: FakeDingTalk, http: requests.Session):
    """Three posts on one Session arrive from the same client port (keep-alive)."""
    for _ in range(3):
        assert post(http, plain.webhook, text()) == OK
    ports = [r.client_port for r in plain.requests]
    assert len(ports) == 3
    assert ports[0] > 0
    assert len(set(ports)) == 1


def test_reset_forgets_messages_requests_and_penalty(plain: FakeDingTalk, http):
    """reset() empties messages and requests and lifts a penalty."""
    for _ in range(21):
        post(http, plain.webhook, text())
    assert post(http, plain.webhook, text()) == THROTTLED
    plain.reset()
    assert (plain.messages, plain.requests) == ([], [])
    assert post(http, plain.webhook, text()) == OK


def test_addresses_and_env(clock: ManualClock):
    """endpoint, webhook and env() point at the started fake."""
    with FakeDingTalk(token=TOKEN, secret=SECRET, keywords=["ops", "dev"], clock=clock) as fake:
        endpoint = f"http://127.0.0.1:{fake.port}/robot/send"
        assert fake.endpoint == endpoint
        assert fake.webhook == f"{endpoint}?access_token={TOKEN}"
        assert fake.env() == {"JOBWATCH_WEBHOOK": fake.webhook, "JOBWATCH_SECRET": SECRET,
                              "JOBWATCH_KEYWORD": "ops"}


def test_env_without_secret_or_keywords(plain: FakeDingTalk):
    """env() of a fake without secret or keywords holds only the webhook."""
    assert plain.env() == {"JOBWATCH_WEBHOOK": plain.webhook}


def test_repr_hides_token_and_secret(fake: FakeDingTalk):
    """repr(fake) shows the endpoint but neither the token nor the secret."""
    shown = repr(fake)
    assert TOKEN not in shown
    assert SECRET not in shown
    assert shown == f"FakeDingTalk(endpoint={fake.endpoint!r}, token='***', secret='***')"


def test_port_before_start_raises():
    """Reading port of a fake that is not started raises RuntimeError."""
    with pytest.raises(RuntimeError, match="not started"):
        _ = FakeDingTalk().port


def test_wrong_path_is_404(plain: FakeDingTalk, http: requests.Session):
    """A POST to another path is answered HTTP 404 and not kept."""
    url = f"http://127.0.0.1:{plain.port}/robot/other?access_token={TOKEN}"
    with http.post(url, json=text(), timeout=TIMEOUT) as resp:
        assert resp.status_code == 404
    assert plain.messages == []
    assert [r.status for r in plain.requests] == [404]


def test_get_is_405(plain: FakeDingTalk, http: requests.Session):
    """A GET is answered HTTP 405."""
    with http.get(plain.webhook, timeout=TIMEOUT) as resp:
        assert resp.status_code == 405


# -- the pytest fixture and a smoke test --------------------------------------------------


def test_fixture_gives_a_started_signing_fake(fake_dingtalk: FakeDingTalk, http):
    """The fake_dingtalk fixture is started, signs with a SEC secret and accepts a signed post."""
    assert fake_dingtalk.secret is not None
    assert fake_dingtalk.secret.startswith("SEC")
    assert len(fake_dingtalk.secret) > 3
    ts = int(time.time() * 1000)  # the fixture's fake reads the real clock
    url = signed_url(fake_dingtalk, ts, secret=fake_dingtalk.secret)
    assert post(http, url, text()) == OK
    assert post(http, fake_dingtalk.webhook, text())["errcode"] == 310000


def test_dingtalk_sender_smoke(fake: FakeDingTalk, clock: ManualClock):
    """DingTalkSender's signed post is accepted by the fake (one end-to-end smoke test)."""
    with DingTalkSender(fake.webhook, secret=SECRET, clock=clock, sleep=clock.sleep) as sender:
        sender.send(Text("smoke"))
    assert [m["text"]["content"] for m in fake.messages] == ["smoke"]
