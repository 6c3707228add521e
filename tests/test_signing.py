"""Tests of jobwatch.senders.signing: the signature, webhook parsing and the signed URL."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from jobwatch.errors import ConfigError, JobwatchError
from jobwatch.senders.signing import DEFAULT_ENDPOINT, Webhook, sign

TOKEN = "0123456789abcdefTOKENxyz_-"


@pytest.mark.parametrize(
    ("secret", "timestamp_ms", "expected"),
    [
        ("this is secret", 1577262236757, "hmPWwU+7lVdm3ZZz0r9tSfx0L4Q26jWOZr9+Gs6EZQM="),
        ("SEC1234567890abcdef", 1700000000000, "RqBq3E1RTBDv3n2QBCh4adZ2WHk9mVklyUoDBLxarjI="),
        ("SECtest", 1700000000001, "r4CWp/Dz+Ng0sbTjH1vB0Fr+uQ2fn831mssaN6/C05I="),
    ],
)
def test_sign_vectors(secret: str, timestamp_ms: int, expected: str) -> None:
    """sign() matches the protocol's three test vectors."""
    assert sign(secret, timestamp_ms) == expected


# --- parse: accepted forms ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("webhook", "endpoint"),
    [
        (
            f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}",
            "https://oapi.dingtalk.com/robot/send",
        ),
        (
            f"https://oapi.dingtalk.io/robot/send?access_token={TOKEN}",
            "https://oapi.dingtalk.io/robot/send",
        ),
        (
            f"http://127.0.0.1:54321/robot/send?access_token={TOKEN}",
            "http://127.0.0.1:54321/robot/send",
        ),
        (
            f"  https://oapi.dingtalk.com/robot/send?access_token={TOKEN}\n",
            "https://oapi.dingtalk.com/robot/send",
        ),
    ],
)
def test_parse_full_url(webhook: str, endpoint: str) -> None:
    """A full webhook URL gives its scheme, host, port and path as endpoint, and its token."""
    assert Webhook.parse(webhook) == Webhook(endpoint, TOKEN)


@pytest.mark.parametrize("webhook", [TOKEN, f" {TOKEN}\n"])
def test_parse_bare_token(webhook: str) -> None:
    """A bare token (surrounding whitespace stripped) gets DingTalk's default endpoint."""
    assert DEFAULT_ENDPOINT == "https://oapi.dingtalk.com/robot/send"
    assert Webhook.parse(webhook) == Webhook(DEFAULT_ENDPOINT, TOKEN)


def test_parse_strips_old_timestamp_and_sign() -> None:
    """A pasted signed URL loses its timestamp and sign but keeps other query values in order."""
    webhook = Webhook.parse(
        "https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1577262236757"
        "&sign=hmPWwU%2B7lVdm3ZZz0r9tSfx0L4Q26jWOZr9%2BGs6EZQM%3D&foo=bar&x=1"
    )
    assert webhook == Webhook(DEFAULT_ENDPOINT, "abc", (("foo", "bar"), ("x", "1")))
    assert webhook.url() == "https://oapi.dingtalk.com/robot/send?access_token=abc&foo=bar&x=1"


# --- parse: refused forms -------------------------------------------------------------------


@pytest.mark.parametrize(
    "webhook",
    [
        "",
        "   \n",
        None,
        b"https://oapi.dingtalk.com/robot/send?access_token=SECRETTOKEN42",
        42,
        "ftp://oapi.dingtalk.com/robot/send?access_token=SECRETTOKEN42",
        "https://oapi.dingtalk.com/robot/send",
        "https://oapi.dingtalk.com/robot/send?token=SECRETTOKEN42",
        "https://oapi.dingtalk.com/robot/send?access_token=",
        "https://oapi.dingtalk.com/robot/send?access_token=SECRETTOKEN42&access_token=SECRETTOKEN42",
        "https:///robot/send?access_token=SECRETTOKEN42",
        "SECRETTOKEN42 SECRETTOKEN42",
        "access_token=SECRETTOKEN42",
        "https://oapi.dingtalk.com/robot/send?access_token=SECRET TOKEN42",
    ],
)
def test_parse_refuses(webhook: object) -> None:
    """Bad webhooks raise ConfigError (a JobwatchError and ValueError) not echoing the token."""
    with pytest.raises(ConfigError) as info:
        Webhook.parse(webhook)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, JobwatchError)
    message = str(info.value)
    assert "SECRET" not in message
    assert "TOKEN42" not in message
    assert "access token" in message


# --- url ------------------------------------------------------------------------------------


def test_url_unsigned() -> None:
    """Without a secret the URL holds only the token and the extra query values."""
    webhook = Webhook("http://127.0.0.1:8080/robot/send", TOKEN, (("a", "b c"),))
    assert webhook.url() == f"http://127.0.0.1:8080/robot/send?access_token={TOKEN}&a=b+c"


def test_url_signed_encodes_sign_once() -> None:
    """The signed URL holds timestamp and sign, the sign URL-encoded exactly once."""
    url = Webhook(DEFAULT_ENDPOINT, "abc").url(secret="this is secret", timestamp_ms=1577262236757)
    assert url == (
        "https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1577262236757"
        "&sign=hmPWwU%2B7lVdm3ZZz0r9tSfx0L4Q26jWOZr9%2BGs6EZQM%3D"
    )
    assert "%25" not in url
    assert url.count("sign=") == 1


@pytest.mark.parametrize(
    ("secret", "timestamp_ms", "expected"),
    [
        ("this is secret", 1577262236757, "hmPWwU+7lVdm3ZZz0r9tSfx0L4Q26jWOZr9+Gs6EZQM="),
        ("SEC1234567890abcdef", 1700000000000, "RqBq3E1RTBDv3n2QBCh4adZ2WHk9mVklyUoDBLxarjI="),
        ("SECtest", 1700000000001, "r4CWp/Dz+Ng0sbTjH1vB0Fr+uQ2fn831mssaN6/C05I="),
    ],
)
def test_url_signed_decodes_to_sign(secret: str, timestamp_ms: int, expected: str) -> None:
    """Decoding the signed URL's query once gives back the exact timestamp and base64 sign."""
    webhook = Webhook.parse(f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}&k=v")
    url = webhook.url(secret=secret, timestamp_ms=timestamp_ms)
    assert "%25" not in url
    assert parse_qsl(urlsplit(url).query, strict_parsing=True) == [
        ("access_token", TOKEN),
        ("k", "v"),
        ("timestamp", str(timestamp_ms)),
        ("sign", expected),
    ]


def test_url_reparsed_is_resigned() -> None:
    """Parsing a signed URL and signing it again leaves a single timestamp and sign."""
    first = Webhook(DEFAULT_ENDPOINT, "abc").url(secret="SECtest", timestamp_ms=1700000000000)
    second = Webhook.parse(first).url(secret="SECtest", timestamp_ms=1700000000001)
    assert second == (
        "https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1700000000001"
        "&sign=r4CWp%2FDz%2BNg0sbTjH1vB0Fr%2BuQ2fn831mssaN6%2FC05I%3D"
    )


def test_url_secret_without_timestamp_refused() -> None:
    """Signing without a timestamp raises ValueError."""
    with pytest.raises(ValueError, match="signing needs timestamp_ms"):
        Webhook(DEFAULT_ENDPOINT, "abc").url(secret="SECtest")


# --- hiding the token -----------------------------------------------------------------------


def test_repr_hides_token() -> None:
    """repr(Webhook) shows endpoint and extra values but not the token."""
    webhook = Webhook.parse(f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}")
    assert repr(webhook) == "Webhook(endpoint='https://oapi.dingtalk.com/robot/send', extra=())"
    assert TOKEN not in repr(webhook)


def test_display_masks_token() -> None:
    """display() shows the endpoint with the token as ***."""
    webhook = Webhook.parse(f"http://127.0.0.1:9/robot/send?access_token={TOKEN}")
    assert webhook.display() == "http://127.0.0.1:9/robot/send?access_token=***"
    assert TOKEN not in webhook.display()
