"""The robot's address: parsing the webhook users copy, and signing each request (加签).

Pure functions, no I/O. A signed URL holds ``timestamp`` and ``sign`` URL-encoded exactly once,
so it must be handed to the HTTP client as a finished string, never through ``params=``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import ConfigError
from ..scrub import MASK

__all__ = ["DEFAULT_ENDPOINT", "Webhook", "sign"]

DEFAULT_ENDPOINT = "https://oapi.dingtalk.com/robot/send"
_TOKEN = re.compile(r"[A-Za-z0-9_\-]{1,256}")
_EXPECTED = (
    "expected the robot's webhook URL as copied from the group's robot settings"
    " (https://oapi.dingtalk.com/robot/send?access_token=...) or a bare access token"
)


def sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's signature: base64(HMAC-SHA256(secret, f"{timestamp_ms}\\n{secret}"))."""
    string_to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), string_to_sign, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True, slots=True)
class Webhook:
    """A robot's endpoint and access token, with any other query values it came with."""

    endpoint: str
    token: str = field(repr=False)
    extra: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, webhook: object) -> Webhook:
        """Accept a full webhook URL (any host, http or https) or a bare access token."""
        if not isinstance(webhook, str):
            raise ConfigError(f"webhook must be a str; {_EXPECTED}")
        parsed = _PARSED.get(webhook)  # every report needs it; a process has one or two robots
        if parsed is None or type(parsed) is not cls:
            parsed = cls._parse(webhook)
            if len(_PARSED) >= 64:
                _PARSED.clear()
            _PARSED[webhook] = parsed
        return parsed

    @classmethod
    def _parse(cls, webhook: str) -> Webhook:
        value = webhook.strip()
        if not value:
            raise ConfigError(f"webhook is empty; {_EXPECTED}")
        if "://" not in value:
            if _TOKEN.fullmatch(value):
                return cls(DEFAULT_ENDPOINT, value)
            raise ConfigError(
                "webhook is neither a URL nor an access token (a token has only letters,"
                f" digits, '-' and '_'); {_EXPECTED}"
            )
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            raise ConfigError(f"webhook is not a well-formed URL; {_EXPECTED}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"webhook URL must be http:// or https:// with a host; {_EXPECTED}")
        if parts.username is not None or parts.password is not None:
            raise ConfigError(f"webhook URL must not carry a user name or password; {_EXPECTED}")
        query = parse_qsl(parts.query, keep_blank_values=True)
        tokens = [v for k, v in query if k == "access_token"]
        if len(tokens) != 1 or not _TOKEN.fullmatch(tokens[0].strip()):
            raise ConfigError(
                "webhook URL needs exactly one access_token=... query value of letters,"
                f" digits, '-' and '_'; {_EXPECTED}"
            )
        extra = tuple((k, v) for k, v in query if k not in ("access_token", "timestamp", "sign"))
        endpoint = urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", ""))
        return cls(endpoint, tokens[0].strip(), extra)

    def url(self, *, secret: str | None = None, timestamp_ms: int | None = None) -> str:
        """The URL to post to: signed with a fresh sign when a secret is given."""
        query = [("access_token", self.token), *self.extra]
        if secret is not None:
            if timestamp_ms is None:
                raise ValueError("signing needs timestamp_ms")
            query += [("timestamp", str(timestamp_ms)), ("sign", sign(secret, timestamp_ms))]
        return f"{self.endpoint}?{urlencode(query)}"

    def display(self) -> str:
        """The URL as it may be shown: token masked."""
        return f"{self.endpoint}?access_token={MASK}"


_PARSED: dict[str, Webhook] = {}
