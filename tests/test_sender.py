"""DingTalkSender against FakeDingTalk on 127.0.0.1: the wire, the answers, the retries."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterator

import pytest

from jobwatch import (
    At,
    ConfigError,
    DingTalkError,
    DingTalkSender,
    Markdown,
    MessageTooLarge,
    SendError,
    Text,
    Throttled,
)
from jobwatch.testing import FakeDingTalk, Fault, ManualClock

SECRET = "SEC1234567890abcdef"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_700_000_000.0)


@pytest.fixture
def robot(clock: ManualClock) -> Iterator[FakeDingTalk]:
    with FakeDingTalk(secret=SECRET, clock=clock) as fake:
        yield fake


@pytest.fixture
def sender(robot: FakeDingTalk, clock: ManualClock) -> Iterator[DingTalkSender]:
    with DingTalkSender(
        robot.webhook, secret=SECRET, clock=clock, monotonic=clock, sleep=clock.sleep
    ) as s:
        yield s


def test_signed_markdown_is_delivered(robot: FakeDingTalk, sender: DingTalkSender) -> None:
    """A signed markdown message is accepted on the first attempt, exactly as built."""
    result = sender.send(Markdown("任务失败", "## 出错了"), msg_uuid="u-1")
    assert (result.msg_uuid, result.attempts, result.errmsg) == ("u-1", 1, "ok")
    assert robot.messages == [
        {
            "msgtype": "markdown",
            "markdown": {"title": "任务失败", "text": "## 出错了"},
            "msgUuid": "u-1",
        }
    ]


def test_body_is_compact_utf8_json(robot: FakeDingTalk, sender: DingTalkSender) -> None:
    """The body is UTF-8 JSON without ASCII escapes, so a CJK character costs 3 bytes."""
    sender.send(Text("失败"), msg_uuid="u")
    (request,) = robot.requests
    assert request.body == '{"msgtype":"text","text":{"content":"失败"},"msgUuid":"u"}'.encode()
    assert request.headers["content-type"] == "application/json; charset=utf-8"


def test_mentions_reach_the_wire(robot: FakeDingTalk, sender: DingTalkSender) -> None:
    """Markdown mentions are sent in ``at`` and written into the text."""
    sender.send(Markdown("t", "job failed", at=At(mobiles=["13800000000"], user_ids=["u1"])))
    message = robot.messages[0]
    assert message["at"] == {"atMobiles": ["13800000000"], "atUserIds": ["u1"], "isAtAll": False}
    assert message["markdown"]["text"] == "job failed\n\n@13800000000 @u1"


def test_sign_is_encoded_exactly_once(clock: ManualClock) -> None:
    """A sign with '+', '/' and '=' reaches DingTalk percent-encoded once, and verifies."""
    clock.now = 1577262236757 / 1000
    with (
        FakeDingTalk(secret="this is secret", clock=clock) as robot,
        DingTalkSender(robot.webhook, secret="this is secret", clock=clock) as sender,
    ):
        sender.send(Text("hi"))
    (request,) = robot.requests
    assert request.raw_query == (
        f"access_token={robot.token}&timestamp=1577262236757"
        "&sign=hmPWwU%2B7lVdm3ZZz0r9tSfx0L4Q26jWOZr9%2BGs6EZQM%3D"
    )
    assert request.errcode == 0


def test_every_attempt_is_signed_afresh(robot: FakeDingTalk, clock: ManualClock) -> None:
    """Retries carry a new timestamp and sign, and the same msgUuid."""

    def ticking() -> float:
        clock.advance(0.001)
        return clock()

    robot.fail_next(Fault(status=502), Fault(errcode=-1, errmsg="busy"))
    with DingTalkSender(robot.webhook, secret=SECRET, clock=ticking, sleep=clock.sleep) as s:
        result = s.send(Text("hi"))
    timestamps = [r.query["timestamp"] for r in robot.requests]
    assert len(set(timestamps)) == 3
    assert len({r.query["sign"] for r in robot.requests}) == 3
    assert {r.json()["msgUuid"] for r in robot.requests} == {result.msg_uuid}


def test_wrong_secret_fails_after_one_request(robot: FakeDingTalk, clock: ManualClock) -> None:
    """errcode 310000 is permanent: DingTalkError with errcode and errmsg, no retry."""
    with (
        DingTalkSender(robot.webhook, secret="SECwrong", clock=clock, sleep=clock.sleep) as s,
        pytest.raises(DingTalkError) as caught,
    ):
        s.send(Text("hi"))
    assert (caught.value.errcode, caught.value.errmsg) == (310000, "sign not match")
    assert not isinstance(caught.value, Throttled)
    assert "secret" in str(caught.value)
    assert len(robot.requests) == 1
    assert clock.slept == []


@pytest.mark.parametrize(
    "fault",
    [
        Fault(status=500),
        Fault(status=502),
        Fault(errcode=-1, errmsg="系统繁忙"),
        Fault(drop=True),
        Fault(status=503, errcode=90002, errmsg="throttled by platform"),
    ],
    ids=["500", "502", "busy", "dropped", "90002"],
)
def test_transient_failures_are_retried_then_delivered_once(
    robot: FakeDingTalk, sender: DingTalkSender, clock: ManualClock, fault: Fault
) -> None:
    """Transient failures are retried with a backoff sleep, and the message lands once."""
    robot.fail_next(fault, fault)
    result = sender.send(Text("hi"))
    assert result.attempts == 3
    assert [r.faulted for r in robot.requests] == [True, True, False]
    assert len(robot.messages) == 1
    assert len(clock.slept) == 2
    assert all(0 <= s <= 8.0 for s in clock.slept)


def test_retries_are_bounded_by_attempts(robot: FakeDingTalk, sender: DingTalkSender) -> None:
    """After ``attempts`` transient failures, SendError says how often it tried."""
    robot.fail_next(*[Fault(status=500)] * 10)
    with pytest.raises(SendError) as caught:
        sender.send(Text("hi"))
    assert type(caught.value) is SendError
    assert len(robot.requests) == 4
    assert "after 4 request(s)" in str(caught.value)
    assert "HTTP 500" in str(caught.value)


def test_retries_are_bounded_by_total_time(robot: FakeDingTalk, clock: ManualClock) -> None:
    """No retry starts when its backoff would end past the deadline."""
    robot.fail_next(*[Fault(status=500)] * 50)
    with (
        DingTalkSender(
            robot.webhook, secret=SECRET, attempts=50, deadline=5.0,
            clock=clock, monotonic=clock, sleep=clock.sleep,
        ) as s,
        pytest.raises(SendError),
    ):
        s.send(Text("hi"))
    assert sum(clock.slept) < 5.0
    assert len(robot.requests) == len(clock.slept) + 1
    assert len(robot.requests) < 50


def test_slow_server_is_bounded(robot: FakeDingTalk, clock: ManualClock) -> None:
    """A server slower than the timeout costs at most the deadline, not attempts x timeout."""
    robot.fail_next(*[Fault(delay=5.0)] * 4)
    with DingTalkSender(
        robot.webhook, secret=SECRET, timeout=0.2, attempts=4, deadline=0.5,
        clock=clock, sleep=lambda s: None,
    ) as s:
        started = time.monotonic()
        with pytest.raises(SendError) as caught:
            s.send(Text("hi"))
        elapsed = time.monotonic() - started
    # Without both bounds this takes 4 x 5 s; with them the 0.5 s deadline (the last request's
    # timeout clamped to what is left of it), so 4 s leaves room for a slow machine.
    assert elapsed < 4.0
    assert re.search(r"after [123] request\(s\) in .* s: no answer within 0\.\d\d s$",
                     str(caught.value)), str(caught.value)


@pytest.mark.parametrize("errcode", [130101, 410100, 90030])
def test_throttled_raises_without_hammering(
    robot: FakeDingTalk, sender: DingTalkSender, clock: ManualClock, errcode: int
) -> None:
    """A throttled robot gets one request; Throttled says to wait ten minutes."""
    robot.fail_next(Fault(errcode=errcode, errmsg="send too fast"))
    with pytest.raises(Throttled) as caught:
        sender.send(Text("hi"))
    assert (caught.value.errcode, caught.value.retry_after) == (errcode, 600.0)
    assert len(robot.requests) == 1
    assert clock.slept == []


@pytest.mark.parametrize("status", [200, 403])
def test_ban_page_raises_throttled_for_five_minutes(
    robot: FakeDingTalk, sender: DingTalkSender, clock: ManualClock, status: int
) -> None:
    """The gateway's HTML ban page gets one request, then Throttled for 300 s."""
    robot.fail_next(Fault(html=True, status=status))
    with pytest.raises(Throttled) as caught:
        sender.send(Text("hi"))
    assert (caught.value.errcode, caught.value.retry_after) == (None, 300.0)
    assert len(robot.requests) == 1
    assert clock.slept == []


def test_rate_limit_of_the_fake_is_reported_as_throttled(
    robot: FakeDingTalk, sender: DingTalkSender
) -> None:
    """The 21st message in a minute comes back as Throttled, the 20 before it delivered."""
    for i in range(20):
        sender.send(Text(f"m{i}"))
    with pytest.raises(Throttled) as caught:
        sender.send(Text("m20"))
    assert caught.value.errcode == 130101
    assert len(robot.messages) == 20
    assert len(robot.requests) == 21


def test_timestamp_error_is_retried_once_with_a_fresh_sign(
    robot: FakeDingTalk, sender: DingTalkSender, clock: ManualClock
) -> None:
    """A 310000 about the timestamp gets one re-signed retry, without a backoff sleep."""
    robot.fail_next(Fault(errcode=310000, errmsg="invalid timestamp"))
    assert sender.send(Text("hi")).errmsg == "ok"
    assert [r.errcode for r in robot.requests] == [310000, 0]
    assert clock.slept == []


def test_repeated_timestamp_error_is_permanent(
    robot: FakeDingTalk, sender: DingTalkSender
) -> None:
    """A second timestamp refusal raises DingTalkError: the host clock is wrong."""
    robot.fail_next(*[Fault(errcode=310000, errmsg="invalid timestamp")] * 3)
    with pytest.raises(DingTalkError) as caught:
        sender.send(Text("hi"))
    assert caught.value.errcode == 310000
    assert len(robot.requests) == 2


def test_host_clock_off_by_hours_is_refused(robot: FakeDingTalk, clock: ManualClock) -> None:
    """A sender whose clock is two hours off is refused by the fake's one-hour window."""
    skewed = ManualClock(clock.now - 7200)
    with (
        DingTalkSender(robot.webhook, secret=SECRET, clock=skewed) as s,
        pytest.raises(DingTalkError) as caught,
    ):
        s.send(Text("hi"))
    assert caught.value.errmsg == "invalid timestamp"
    assert len(robot.requests) == 2


def test_keyword_is_added_where_missing(clock: ManualClock) -> None:
    """A robot with a keyword accepts messages the sender adds the keyword to."""
    with (
        FakeDingTalk(keywords=["告警"], clock=clock) as robot,
        DingTalkSender(robot.webhook, keyword="告警") as s,
    ):
        s.send(Markdown("job failed", "details"))
        s.send(Text("告警: already there"))
    assert robot.messages[0]["markdown"] == {"title": "job failed 告警", "text": "details\n\n告警"}
    assert robot.messages[1]["text"] == {"content": "告警: already there"}


def test_oversize_body_is_refused_before_sending(
    robot: FakeDingTalk, sender: DingTalkSender
) -> None:
    """A body over 20,000 bytes raises MessageTooLarge and nothing is posted."""
    with pytest.raises(MessageTooLarge) as caught:
        sender.send(Text("字" * 7000))
    assert caught.value.size > 20_000
    assert caught.value.limit == 20_000
    assert robot.requests == []


def test_body_of_exactly_the_limit_is_sent(robot: FakeDingTalk, sender: DingTalkSender) -> None:
    """A body of exactly 20,000 bytes is within the limit."""
    overhead = len(sender.encode(Text("x"), "u")) - 1
    sender.send(Text("x" * (20_000 - overhead)), msg_uuid="u")
    assert len(robot.requests[0].body) == 20_000
    assert robot.requests[0].errcode == 0


def test_connection_is_reused(robot: FakeDingTalk, sender: DingTalkSender) -> None:
    """Consecutive sends share one keep-alive connection."""
    for i in range(3):
        sender.send(Text(f"m{i}"))
    assert len({r.client_port for r in robot.requests}) == 1


def test_threads_share_one_sender(robot: FakeDingTalk, sender: DingTalkSender) -> None:
    """Sixteen threads sending at once each get their message delivered exactly once."""
    robot.rate_limit = 1000
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(4):
                sender.send(Text(f"t{n}-{i}"))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    contents = sorted(m["text"]["content"] for m in robot.messages)
    assert contents == sorted(f"t{n}-{i}" for n in range(16) for i in range(4))


def test_bare_token_uses_the_official_endpoint() -> None:
    """A bare token means https://oapi.dingtalk.com/robot/send, shown with the token masked."""
    with DingTalkSender("a" * 64) as s:
        assert repr(s) == (
            "DingTalkSender(webhook='https://oapi.dingtalk.com/robot/send?access_token=***',"
            " secret=None, keyword=None)"
        )


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1.0}, "timeout"),
        ({"attempts": 0}, "attempts"),
        ({"attempts": 1.5}, "attempts"),
        ({"deadline": "30"}, "deadline"),
        ({"secret": ""}, "secret"),
        ({"keyword": 5}, "keyword"),
    ],
)
def test_bad_settings_raise_config_error(kwargs: dict[str, object], name: str) -> None:
    """A bad argument raises ConfigError naming it."""
    with pytest.raises(ConfigError, match=f"^{name} "):
        DingTalkSender("token", **kwargs)  # type: ignore[arg-type]


def test_not_a_message_is_a_type_error(sender: DingTalkSender) -> None:
    """send() of a dict says it wants a jobwatch message."""
    with pytest.raises(TypeError, match="jobwatch message, not dict"):
        sender.send({"msgtype": "text"})  # type: ignore[arg-type]


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def test_no_secret_in_errors_reprs_or_debug_logs(
    caplog: pytest.LogCaptureFixture, clock: ManualClock
) -> None:
    """Token, secret, sign and timestamp never appear in exception texts, reprs or DEBUG logs."""
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    with FakeDingTalk(secret=SECRET, clock=clock) as robot:
        robot.fail_next(Fault(status=500), Fault(drop=True), Fault(errcode=-1))
        dead_port_url = robot.webhook.replace(f":{robot.port}/", ":1/")
        senders = [
            DingTalkSender(robot.webhook, secret=SECRET, clock=clock, sleep=clock.sleep),
            DingTalkSender(robot.webhook, secret="SECwrong-secret", clock=clock),
            DingTalkSender(dead_port_url, secret=SECRET, clock=clock, sleep=clock.sleep),
        ]
        for s in senders:
            texts.append(repr(s))
            for message in (Text("hi"), Text("x" * 30_000)):
                try:
                    s.send(message)
                except Exception as exc:  # noqa: BLE001 - every error is inspected
                    texts += [f"{e!s} {e!r}" for e in _chain(exc)]
            s.close()
        try:
            DingTalkSender(robot.webhook.replace("access_token", "token"))
        except ConfigError as exc:
            texts.append(str(exc))
        texts.append(repr(robot))
        requests = robot.requests
    texts += [r.getMessage() for r in caplog.records]
    texts += [json.dumps(r.args, default=str) for r in caplog.records if r.args]
    everything = "\n".join(texts)
    for expected in ("SendError", "310000", "HTTP 500", "MessageTooLarge"):
        assert expected in everything
    assert any(r.name.startswith("urllib3") for r in caplog.records)
    secrets = {robot.token, SECRET, "SECwrong-secret"}
    secrets |= {r.query["sign"] for r in requests} | {r.query["timestamp"] for r in requests}
    assert len(secrets) > 5
    leaked = sorted(s for s in secrets if s in everything)
    assert leaked == []
