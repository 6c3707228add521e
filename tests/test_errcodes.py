"""Tests of jobwatch.senders.errcodes: how DingTalk's answers are classified."""

from __future__ import annotations

import json

import pytest

from jobwatch.errors import DingTalkError, Throttled
from jobwatch.senders import errcodes
from jobwatch.senders.errcodes import check_answer, hint, is_timestamp_error


def _json(**fields: object) -> bytes:
    return json.dumps(fields, ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize("errcode", [0, "0"])
def test_success_returns_errmsg(errcode: object) -> None:
    """errcode 0, as a number or as the string "0", returns errmsg."""
    assert check_answer(200, _json(errcode=errcode, errmsg="ok")) == "ok"


def test_success_without_errmsg() -> None:
    """A success answer without errmsg returns the empty string."""
    assert check_answer(200, b'{"errcode":0}') == ""


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, _json(errcode=-1, errmsg="系统繁忙")),
        (200, _json(errcode=90001, errmsg="busy")),
        (200, _json(errcode=90014, errmsg="busy")),
        (200, _json(errcode="90002", errmsg="busy")),
        (500, b"Internal Server Error"),
        (502, b"<html><body>Bad Gateway</body></html>"),
        (200, b""),
        (200, b"[]"),
        (200, b'[{"errcode": 0}]'),
        (200, b'"ok"'),
        (200, b"null"),
        (200, b'{"errmsg": "ok"}'),
        (503, b"{}"),
        (200, b"\xff\xfe not utf-8"),
        (200, _json(errcode="abc", errmsg="?")),
        (200, _json(errcode=None, errmsg="?")),
        (200, _json(errcode=True, errmsg="?")),
        (500, _json(errcode=310000, errmsg="keywords not in content")),
    ],
)
def test_transient(status: int, body: bytes) -> None:
    """Busy errcodes, 5xx, non-JSON, empty, non-object JSON and missing errcode are Transient."""
    with pytest.raises(errcodes.Transient):
        check_answer(status, body)


def test_transient_is_not_a_jobwatch_send_error() -> None:
    """Transient is a private signal for the retry loop, not part of the public tree."""
    assert not issubclass(errcodes.Transient, DingTalkError)


@pytest.mark.parametrize(
    ("errcode", "errmsg"),
    [
        (410100, "send too fast"),
        (130101, "send too fast, exceed 20 times per minute"),
        (90030, "webhook over limit"),
        ("410100", "send too fast"),
    ],
)
def test_throttled(errcode: object, errmsg: str) -> None:
    """410100, 130101 and 90030 raise Throttled with retry_after 600 and the answer's errmsg."""
    with pytest.raises(Throttled) as info:
        check_answer(200, _json(errcode=errcode, errmsg=errmsg))
    assert info.value.retry_after == 600.0
    assert info.value.errcode == int(str(errcode))
    assert info.value.errmsg == errmsg


@pytest.mark.parametrize(
    "body",
    [
        _json(status=1111, source="x5", msg="ip banned"),
        _json(status=1111, source="x5"),
        _json(status="1111", wait=300),
    ],
)
def test_x5_ban_throttled(body: bytes) -> None:
    """The x5 gateway's JSON ban (no errcode) raises Throttled for 300 s with errcode None."""
    with pytest.raises(Throttled) as info:
        check_answer(200, body)
    assert info.value.retry_after == 300.0
    assert info.value.errcode is None


def test_html_pages_that_merely_contain_x5_are_not_the_ban() -> None:
    """A proxy's 502 page with a request id 0x5f3a91 stays transient, and a 404 page of the
    wrong host linking index5.css stays a permanent refusal: only "x5" as a word is the ban."""
    with pytest.raises(errcodes.Transient):
        check_answer(502, b"<html><body><h1>502</h1><p>request id 0x5f3a91</p></body></html>")
    with pytest.raises(DingTalkError) as info:
        check_answer(404, b'<html><head><link href="index5.css"></head><body>404</body></html>')
    assert not isinstance(info.value, Throttled)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, b"<html><head><title>x5</title></head><body>blocked</body></html>"),
        (403, b"<!DOCTYPE html><HTML><body><p>X5 sec: access denied</p></body></HTML>"),
    ],
)
def test_x5_ban_page_throttled(status: int, body: bytes) -> None:
    """The ban can also come as an HTML page naming the x5 gateway (dingtalk-protocol.md):
    Throttled for 300 s, whatever the HTTP status, so the robot rests instead of retrying."""
    with pytest.raises(Throttled) as info:
        check_answer(status, body)
    assert info.value.retry_after == 300.0
    assert info.value.errcode is None


@pytest.mark.parametrize(
    ("errcode", "errmsg"),
    [
        (310000, "keywords not in content"),
        (310000, "sign not match"),
        (300001, "token is not exist"),
        (400101, "access_token不存在"),
        (400105, "不支持的消息类型"),
        (43004, "无效的HTTP HEADER Content-Type"),
        (430101, "含有不安全的外链"),
        (460101, "message too long, exceed 20000 bytes"),
        (123456, "something new"),
    ],
)
def test_permanent(errcode: int, errmsg: str) -> None:
    """Other non-zero errcodes raise DingTalkError (not Throttled) keeping errcode and errmsg."""
    with pytest.raises(DingTalkError) as info:
        check_answer(200, _json(errcode=errcode, errmsg=errmsg))
    error = info.value
    assert type(error) is DingTalkError
    assert error.errcode == errcode
    assert error.errmsg == errmsg
    assert error.hint == hint(errcode)


def test_errcode_as_string_parsed() -> None:
    """An errcode given as the string "310000" is read as the number 310000."""
    with pytest.raises(DingTalkError) as info:
        check_answer(200, b'{"errcode":"310000","errmsg":"sign not match"}')
    assert type(info.value) is DingTalkError
    assert info.value.errcode == 310000
    assert info.value.errmsg == "sign not match"


def test_permanent_message_text() -> None:
    """The DingTalkError text gives errcode, errmsg verbatim and the hint."""
    with pytest.raises(DingTalkError) as info:
        check_answer(200, _json(errcode=310000, errmsg="sign not match"))
    assert str(info.value) == (
        "DingTalk rejected the message: errcode 310000: sign not match ("
        "a security setting refused it: check the signing secret (SEC...), the robot's keyword,"
        " or its IP allow-list; errmsg says which)"
    )


@pytest.mark.parametrize(
    ("errcode", "errmsg", "expected"),
    [
        (310000, "invalid timestamp", True),
        (310000, "Timestamp is invalid", True),
        (310000, "时间戳无效", True),
        (310000, "sign not match", False),
        (310000, "keywords not in content", False),
        (300001, "invalid timestamp", False),
        (None, "timestamp", False),
    ],
)
def test_is_timestamp_error(errcode: int | None, errmsg: str, expected: bool) -> None:
    """is_timestamp_error is true only for errcode 310000 whose errmsg is about the timestamp."""
    assert is_timestamp_error(DingTalkError(errcode, errmsg)) is expected


def test_hint_security() -> None:
    """hint(310000) is non-empty and points at the secret."""
    assert hint(310000) != ""
    assert "secret" in hint(310000)


@pytest.mark.parametrize("errcode", [123456, 0, None])
def test_hint_unknown_empty(errcode: int | None) -> None:
    """hint() is empty for codes it does not know and for None."""
    assert hint(errcode) == ""


@pytest.mark.parametrize(
    "errcode",
    [
        300001,
        300005,
        400101,
        400106,
        400013,
        400102,
        400105,
        40035,
        43004,
        430101,
        430102,
        430103,
        430104,
        460101,
        101002,
    ],
)
def test_hint_documented_permanent_codes(errcode: int) -> None:
    """Every permanent errcode in the protocol's table has a hint."""
    assert hint(errcode) != ""
