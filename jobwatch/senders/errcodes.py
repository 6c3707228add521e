"""What DingTalk's answers mean: success, transient, throttled or permanent.

DingTalk answers HTTP 200 even when it rejects a message, so the ``errcode`` in the JSON body
decides; it may be a number or a string. See shared/dingtalk-protocol.md for the table.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import DingTalkError, Throttled

__all__ = [
    "BAN_SECONDS",
    "THROTTLE_SECONDS", "Transient", "check_answer", "hint", "is_timestamp_error"]

# How long a throttled robot must be left alone, by errcode; and after the gateway's IP ban.
THROTTLE_SECONDS: dict[int, float] = {410100: 600.0, 130101: 600.0, 90030: 600.0}
BAN_SECONDS = 300.0

_TRANSIENT = {-1, *range(90001, 90015)}

_HINTS = {
    310000: "a security setting refused it: check the signing secret (SEC...), the robot's"
    " keyword, or its IP allow-list; errmsg says which",
    300001: "the access_token is wrong or the robot was removed",
    300005: "the access_token is wrong or the robot was removed",
    400101: "the access_token does not exist",
    400106: "the robot does not exist",
    400013: "the group was dissolved",
    400102: "the robot is disabled",
    400105: "DingTalk does not know this msgtype",
    40035: "a parameter is missing or invalid",
    43004: "the Content-Type must be application/json",
    460101: "the message is too long",
    101002: "the message is too long",
    410100: "too many messages: DingTalk allows 20 a minute per robot",
    130101: "too many messages: DingTalk allows 20 a minute per robot",
    90030: "the organisation's monthly webhook quota is used up",
}
_HINTS.update(dict.fromkeys(range(430101, 430105), "the content was refused by moderation"))


class Transient(Exception):
    """An answer worth retrying: network trouble, HTTP 5xx, a busy DingTalk."""


def hint(errcode: int | None) -> str:
    """A short English explanation of an errcode, or '' when there is none."""
    return _HINTS.get(errcode, "") if errcode is not None else ""


def is_timestamp_error(error: DingTalkError) -> bool:
    """Whether a 310000 was about the timestamp (clock skew), so a fresh sign may help.

    A wrong secret is not: DingTalk's Chinese wording for it (签名不匹配) also names the
    timestamp in its advice ("请确认签名和生成签名的时间戳...").
    """
    text = error.errmsg.lower()
    if error.errcode != 310000 or "sign not match" in text or "签名不匹配" in text:
        return False
    return "timestamp" in text or "时间戳" in text


def _errcode(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _is_ban_page(body: bytes) -> bool:
    """The gateway's ban can also come as an HTML page naming its x5 firewall: "x5" as a word
    of its own (not in "0x5f", "index5.css" or base64), or "x5sec"."""
    head = body[:4096].lower()
    return (b"<html" in head or b"<!doctype html" in head) and _X5.search(head) is not None


_X5 = re.compile(rb"(?<![0-9a-z_+/.-])x5(?:sec)?(?![0-9a-z_+/=-])")


def check_answer(status: int, body: bytes) -> str:
    """Return errmsg of an accepted message; raise Transient, Throttled or DingTalkError."""
    try:
        answer = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        answer = None
    if 300 <= status < 400:
        raise DingTalkError(
            None, f"HTTP {status}: the webhook URL redirects elsewhere",
            "use the webhook URL exactly as the group's robot settings show it",
        )
    if not isinstance(answer, dict):
        if _is_ban_page(body):
            raise Throttled(None, "IP banned by DingTalk's gateway (x5 page)", BAN_SECONDS)
        if 400 <= status < 500 and status not in (408, 429):
            raise DingTalkError(
                None, f"HTTP {status} with a body that is not DingTalk's JSON",
                "the webhook URL does not look like a DingTalk robot endpoint",
            )
        raise Transient(f"HTTP {status} with a body that is not a JSON object ({len(body)} bytes)")
    if "errcode" not in answer:
        if answer.get("source") == "x5" or str(answer.get("status")) == "1111":
            raise Throttled(None, "IP banned by DingTalk's gateway (x5)", BAN_SECONDS)
        if status >= 500:
            raise Transient(f"HTTP {status} with no errcode")
        raise Transient(f"HTTP {status} with a JSON body that has no errcode")
    errcode = _errcode(answer["errcode"])
    errmsg = str(answer.get("errmsg", ""))
    if errcode is None:
        raise Transient(f"HTTP {status} with an errcode that is not a number")
    if errcode == 0:
        return errmsg
    if errcode in THROTTLE_SECONDS:
        raise Throttled(errcode, errmsg, THROTTLE_SECONDS[errcode])
    if errcode in _TRANSIENT:
        raise Transient(f"errcode {errcode}: {errmsg}")
    if status >= 500:
        raise Transient(f"HTTP {status} (errcode {errcode}: {errmsg})")
    raise DingTalkError(errcode, errmsg, hint(errcode))
