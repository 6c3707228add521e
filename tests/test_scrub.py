"""Tests of jobwatch.scrub: masking tokens, signs and secrets in texts and log records."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from jobwatch.scrub import MASK, ScrubFilter, install_log_filter, scrub


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "https://oapi.dingtalk.com/robot/send?access_token=abc123",
            "https://oapi.dingtalk.com/robot/send?access_token=***",
        ),
        (
            "https://oapi.dingtalk.com/robot/send?access_token=abc123&timestamp=1577262236757"
            "&sign=hmPWwU%2B7lVdm3ZZz0r9tSfx0L4Q26jWOZr9%2BGs6EZQM%3D",
            "https://oapi.dingtalk.com/robot/send?access_token=***&timestamp=***&sign=***",
        ),
        (
            "http://127.0.0.1:8080/robot/send?foo=bar&ACCESS_TOKEN=abc123&x=1",
            "http://127.0.0.1:8080/robot/send?foo=bar&ACCESS_TOKEN=***&x=1",
        ),
        (
            "HTTPSConnectionPool(host='oapi.dingtalk.com', port=443): Max retries exceeded with"
            " url: /robot/send?access_token=abc123&timestamp=1&sign=xyz%2B (Caused by"
            " NewConnectionError('<urllib3.connection.HTTPSConnection object at 0x7f>:"
            " Failed to establish a new connection: [Errno 111] Connection refused'))",
            "HTTPSConnectionPool(host='oapi.dingtalk.com', port=443): Max retries exceeded with"
            " url: /robot/send?access_token=***&timestamp=***&sign=*** (Caused by"
            " NewConnectionError('<urllib3.connection.HTTPSConnection object at 0x7f>:"
            " Failed to establish a new connection: [Errno 111] Connection refused'))",
        ),
        (
            "404 Client Error: Not Found for url: http://127.0.0.1:9/robot/send?access_token=t0k"
            "&sign=a%2Fb",
            "404 Client Error: Not Found for url: http://127.0.0.1:9/robot/send?access_token=***"
            "&sign=***",
        ),
        (
            "'http://h/robot/send?access_token=abc'",
            "'http://h/robot/send?access_token=***'",
        ),
    ],
)
def test_scrub_query_values(text: str, expected: str) -> None:
    """access_token, timestamp and sign query values are replaced by *** wherever a URL appears."""
    assert scrub(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "next=https%3A%2F%2Fh%2Frobot%2Fsend%3Faccess_token%3Dabc123%26sign%3Dxyz9",
        "next=https%3A%2F%2Fh%2Frobot%2Fsend%3Ftimestamp%3D1%26access_token%3Dabc123",
        "access_token%3Dabc123%26sign%3Dxyz9",
    ],
)
def test_scrub_percent_encoded_url(text: str) -> None:
    """A URL percent-encoded inside another (?, & and = as %3F, %26, %3D) loses token and sign."""
    clean = scrub(text)
    assert "abc123" not in clean
    assert "xyz9" not in clean
    assert "access_token%3D***" in clean


def test_scrub_lower_case_encoded_equals() -> None:
    """%3d (lower case) counts as '=' too: text with no plain '=' is still searched."""
    assert scrub("access_token%3dabc123%26sign%3dxyz9") == "access_token%3d***%26sign%3d***"


def test_scrub_twice_encoded_url() -> None:
    """A URL encoded twice (= as %253D, & as %2526) loses its token and sign too."""
    text = "next=https%253A%252F%252Fh%253Faccess_token%253Dtok123%2526sign%253Dabc9"
    assert scrub(text) == "next=https%253A%252F%252Fh%253Faccess_token%253D***%2526sign%253D***"


def test_scrub_secret_with_lower_case_percent_encoding() -> None:
    """A secret percent-encoded with lower-case hex digits (%2f) is masked as well."""
    assert scrub("a SEC%2fx%2by%3dz b", ["SEC/x+y=z"]) == "a *** b"
    assert scrub("a SEC%2Fx%2By%3Dz b", ["SEC/x+y=z"]) == "a *** b"


def test_scrub_same_secret_twice_gives_same_answer() -> None:
    """The encoded forms of a secret are remembered between calls; the second call masks the
    same as the first."""
    text = "a SEC/x+y=z and SEC%2Fx%2By%3Dz"
    first = scrub(text, ["SEC/x+y=z"])
    assert first == "a *** and ***"
    assert scrub(text, ["SEC/x+y=z"]) == first


@pytest.mark.parametrize(
    "text",
    [
        "",
        "nightly backup finished in 3.2 s; sign up for alerts at https://example.com",
        "design=blue&resign=no",
        "https://example.com/page?q=jobwatch&page=2",
        "the token expired at 12:00",
    ],
)
def test_scrub_leaves_ordinary_text(text: str) -> None:
    """Text without secret query values and without given secrets comes back unchanged."""
    assert scrub(text, ["SEC0123456789abcdef"]) == text


@pytest.mark.parametrize(
    ("secret", "text", "expected"),
    [
        ("SEC0123456789abcdef", "secret is SEC0123456789abcdef.", "secret is ***."),
        ("SEC0123456789abcdef", "SEC0123456789abcdefSEC0123456789abcdef", "******"),
        ("SEC a/b+c=", "raw SEC a/b+c= end", "raw *** end"),
        ("SEC a/b+c=", "quoted SEC%20a%2Fb%2Bc%3D end", "quoted *** end"),
        ("SEC a/b+c=", "plus SEC+a%2Fb%2Bc%3D end", "plus *** end"),
        ("tok3n-value", "body={'webhook': 'tok3n-value'}", "body={'webhook': '***'}"),
    ],
)
def test_scrub_literal_secrets(secret: str, text: str, expected: str) -> None:
    """Given secrets are masked as written, percent-encoded and form-encoded."""
    assert scrub(text, [secret]) == expected


def test_scrub_skips_none_and_short_secrets() -> None:
    """None and secrets shorter than six characters are not masked as bare strings."""
    text = "abcde and abcdef"
    assert scrub(text, [None, "", "abcde"]) == text
    assert scrub(text, ["abcdef"]) == f"abcde and {MASK}"


def test_scrub_query_and_secret_together() -> None:
    """Query values and given secrets are both masked in one pass."""
    text = "POST http://h/robot/send?access_token=abc&sign=zz failed for SECabcdef123"
    assert scrub(text, ["SECabcdef123"]) == (
        "POST http://h/robot/send?access_token=***&sign=*** failed for ***"
    )


# --- logging --------------------------------------------------------------------------------


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, _Capture]]:
    logger = logging.getLogger("jobwatch.tests.scrub")
    handler = _Capture()
    scrub_filter = ScrubFilter()
    logger.addHandler(handler)
    logger.addFilter(scrub_filter)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, handler
    finally:
        logger.removeHandler(handler)
        logger.removeFilter(scrub_filter)
        logger.setLevel(logging.NOTSET)
        logger.propagate = True


def test_filter_scrubs_formatted_message(captured: tuple[logging.Logger, _Capture]) -> None:
    """ScrubFilter rewrites a record whose formatted message holds a token to the scrubbed text."""
    logger, handler = captured
    logger.debug(
        '%s://%s:%s "%s %s HTTP/1.1" %s',
        "https",
        "oapi.dingtalk.com",
        443,
        "POST",
        "/robot/send?access_token=abc123&timestamp=1&sign=x%2B",
        200,
    )
    [record] = handler.records
    assert record.getMessage() == (
        'https://oapi.dingtalk.com:443 "POST /robot/send?access_token=***&timestamp=***&sign=***'
        ' HTTP/1.1" 200'
    )
    assert "abc123" not in record.msg
    assert record.args is None


def test_filter_leaves_clean_record(captured: tuple[logging.Logger, _Capture]) -> None:
    """ScrubFilter keeps msg and args of a record with nothing to scrub."""
    logger, handler = captured
    logger.info("sent %d messages", 3)
    [record] = handler.records
    assert record.msg == "sent %d messages"
    assert record.args == (3,)
    assert record.getMessage() == "sent 3 messages"


def test_filter_passes_broken_record() -> None:
    """ScrubFilter lets a record whose arguments do not fit its format through untouched."""
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d tokens", ("many",), None)
    assert ScrubFilter().filter(record) is True
    assert record.msg == "%d tokens"
    assert record.args == ("many",)


def test_install_log_filter_idempotent(monkeypatch: pytest.MonkeyPatch) -> None:
    """install_log_filter() twice adds a single ScrubFilter to urllib3.connectionpool."""
    for name in ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.connection"):
        other = logging.getLogger(name)
        monkeypatch.setattr(other, "filters", [f for f in other.filters if f is not None])
    logger = logging.getLogger("urllib3.connectionpool")
    kept = [f for f in logger.filters if not isinstance(f, ScrubFilter)]
    monkeypatch.setattr(logger, "filters", list(kept))
    install_log_filter()
    install_log_filter()
    added = [f for f in logger.filters if isinstance(f, ScrubFilter)]
    assert len(added) == 1
    assert logger.filters == [*kept, added[0]]
