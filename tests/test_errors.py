"""Tests of jobwatch.errors: the exception tree, attributes, texts and pickling."""

from __future__ import annotations

import pickle

import pytest

from jobwatch import errors
from jobwatch.errors import (
    ConfigError,
    DingTalkError,
    JobwatchError,
    MessageTooLarge,
    SendError,
    Throttled,
)


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        (JobwatchError, Exception),
        (ConfigError, JobwatchError),
        (ConfigError, ValueError),
        (SendError, JobwatchError),
        (MessageTooLarge, SendError),
        (MessageTooLarge, ValueError),
        (DingTalkError, SendError),
        (Throttled, DingTalkError),
    ],
)
def test_subclass(child: type[BaseException], parent: type[BaseException]) -> None:
    """The tree drawn in errors' docstring holds."""
    assert issubclass(child, parent)


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        (SendError, ValueError),
        (DingTalkError, ValueError),
        (DingTalkError, MessageTooLarge),
        (MessageTooLarge, DingTalkError),
        (ConfigError, SendError),
    ],
)
def test_not_subclass(child: type[BaseException], parent: type[BaseException]) -> None:
    """Branches of the tree stay apart: sending errors are not ValueErrors, except too large."""
    assert not issubclass(child, parent)


def test_all_sorted_and_complete() -> None:
    """errors.__all__ is sorted and names every exception class of the module."""
    assert errors.__all__ == sorted(errors.__all__)
    assert set(errors.__all__) == {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, BaseException)
    }


def test_message_too_large() -> None:
    """MessageTooLarge keeps size and limit and says both in its text."""
    error = MessageTooLarge(20345, 20000)
    assert (error.size, error.limit) == (20345, 20000)
    assert str(error) == (
        "message body is 20345 bytes, over DingTalk's limit of 20000 bytes"
        " (UTF-8 JSON; a CJK character takes 3 bytes); shorten the text"
    )


def test_dingtalk_error_with_hint() -> None:
    """DingTalkError keeps errcode, errmsg and hint and shows all three."""
    error = DingTalkError(300001, "token is not exist", "the access_token is wrong")
    assert (error.errcode, error.errmsg, error.hint) == (
        300001,
        "token is not exist",
        "the access_token is wrong",
    )
    assert str(error) == (
        "DingTalk rejected the message: errcode 300001: token is not exist"
        " (the access_token is wrong)"
    )


def test_dingtalk_error_without_hint() -> None:
    """DingTalkError without a hint has no parenthesis; errcode None reads "no errcode"."""
    assert str(DingTalkError(123456, "new")) == (
        "DingTalk rejected the message: errcode 123456: new"
    )
    assert DingTalkError(123456, "new").hint == ""
    assert str(DingTalkError(None, "banned")) == "DingTalk rejected the message: no errcode: banned"


def test_throttled() -> None:
    """Throttled keeps retry_after and says it in its text and hint."""
    error = Throttled(410100, "send too fast", 600.0)
    assert (error.errcode, error.errmsg, error.retry_after) == (410100, "send too fast", 600.0)
    assert error.hint == "robot throttled; retry after 600 s"
    assert str(error) == (
        "DingTalk rejected the message: errcode 410100: send too fast"
        " (robot throttled; retry after 600 s)"
    )


def test_throttled_x5() -> None:
    """Throttled with errcode None (the x5 ban) reads "no errcode"."""
    error = Throttled(None, "IP banned", 300.0)
    assert error.errcode is None
    assert str(error) == (
        "DingTalk rejected the message: no errcode: IP banned (robot throttled; retry after 300 s)"
    )


@pytest.mark.parametrize(
    ("error", "attributes"),
    [
        (JobwatchError("boom"), {}),
        (ConfigError("webhook is empty"), {}),
        (SendError("retries ran out"), {}),
        (MessageTooLarge(20345, 20000), {"size": 20345, "limit": 20000}),
        (
            DingTalkError(310000, "sign not match", "check the secret"),
            {"errcode": 310000, "errmsg": "sign not match", "hint": "check the secret"},
        ),
        (DingTalkError(None, "x"), {"errcode": None, "errmsg": "x", "hint": ""}),
        (
            Throttled(130101, "send too fast", 600.0),
            {
                "errcode": 130101,
                "errmsg": "send too fast",
                "retry_after": 600.0,
                "hint": "robot throttled; retry after 600 s",
            },
        ),
        (Throttled(None, "x5", 300.0), {"errcode": None, "errmsg": "x5", "retry_after": 300.0}),
    ],
)
def test_pickle_round_trip(error: Exception, attributes: dict[str, object]) -> None:
    """Each error survives pickle with its type, text, args and attributes."""
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert copy.args == error.args
    for name, value in attributes.items():
        assert getattr(copy, name) == value
