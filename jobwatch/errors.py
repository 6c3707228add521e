"""Every exception jobwatch raises, in one tree.

::

    JobwatchError
    ├── ConfigError (also ValueError)      a setting is wrong: named, never echoed if secret
    └── SendError                          a message could not be delivered
        ├── MessageTooLarge (also ValueError)  refused before sending: body over 20,000 bytes
        └── DingTalkError                  DingTalk answered with a non-zero errcode
            └── Throttled                  the robot is throttled: wait ``retry_after`` seconds

A plain ``SendError`` means the failure was transient (network down, HTTP 5xx, DingTalk busy)
and the retries ran out: the message may be sent again later. ``DingTalkError`` (other than
``Throttled``) and ``MessageTooLarge`` are permanent: sending the same message again will fail
the same way. ``Throttled`` means: keep the message, send nothing to that robot for a while.

No message of these exceptions contains an access token, a secret or a sign.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DingTalkError",
    "JobwatchError",
    "MessageTooLarge",
    "SendError",
    "Throttled",
]


class JobwatchError(Exception):
    """Base class of every error jobwatch raises."""


class ConfigError(JobwatchError, ValueError):
    """A setting has a value jobwatch cannot use."""


class SendError(JobwatchError):
    """A message could not be delivered; a plain SendError is transient."""


class MessageTooLarge(SendError, ValueError):
    """The request body is over DingTalk's limit; it was not sent."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"message body is {size} bytes, over DingTalk's limit of {limit} bytes"
            " (UTF-8 JSON; a CJK character takes 3 bytes); shorten the text"
        )
        self.size = size
        self.limit = limit

    def __reduce__(self) -> tuple[type[MessageTooLarge], tuple[int, int]]:
        return (type(self), (self.size, self.limit))


class DingTalkError(SendError):
    """DingTalk rejected the message: ``errcode`` and ``errmsg`` say why."""

    def __init__(self, errcode: int | None, errmsg: str, hint: str = "") -> None:
        code = "no errcode" if errcode is None else f"errcode {errcode}"
        text = f"DingTalk rejected the message: {code}: {errmsg}"
        super().__init__(f"{text} ({hint})" if hint else text)
        self.errcode = errcode
        self.errmsg = errmsg
        self.hint = hint

    def __reduce__(self) -> tuple[type[DingTalkError], tuple[int | None, str, str]]:
        return (type(self), (self.errcode, self.errmsg, self.hint))


class Throttled(DingTalkError):
    """The robot is throttled; send nothing to it for ``retry_after`` seconds."""

    def __init__(self, errcode: int | None, errmsg: str, retry_after: float) -> None:
        super().__init__(errcode, errmsg, f"robot throttled; retry after {retry_after:g} s")
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[type[DingTalkError], tuple[int | None, str, float]]:  # type: ignore[override]
        return (type(self), (self.errcode, self.errmsg, self.retry_after))
