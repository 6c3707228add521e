"""Removing access tokens, secrets and signs from text before anyone can read it.

Every error message, repr and log line jobwatch writes passes through ``scrub``. The HTTP
libraries put whole URLs (query included) into their exception texts and DEBUG logs, so
``install_log_filter`` also scrubs the records of the urllib3 loggers that do that.
"""

from __future__ import annotations

import re

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~2.5 ms at start)
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

__all__ = ["MASK", "install_log_filter", "scrub"]  # and ScrubFilter, made on first use

MASK = "***"

# Query values that are secret: the robot's token, the sign and its timestamp.
# The name may follow a plain separator or an encoded one (%3F, %26; %253F, %2526 when encoded
# twice) in a URL nested inside another; the value ends at '&', an encoded '&', white space
# or a closing quote/bracket.
_QUERY = re.compile(
    r"(?i)(?:(?<![0-9a-z_])|(?<=%3F)|(?<=%26)|(?<=%253F)|(?<=%2526))"
    r"(access_token|sign|timestamp)(=|%3D|%253D)"
    r"(?:(?!%26|%2526)[^&\s'\"<>)\],;])*"
)
# Secrets shorter than this are not replaced as bare strings: "a" would mask every "a".
_MIN_LITERAL = 6

_URLLIB3_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.connection")


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with secret query values and every given secret replaced by ``***``."""
    if "=" in text or "%" in text:  # the pattern needs one of them; most text has neither
        text = _QUERY.sub(_masked, text)
    for secret in secrets:
        if secret and len(secret) >= _MIN_LITERAL:
            for form in _FORMS.get(secret) or _forms(secret):
                if form in text:
                    text = text.replace(form, MASK)
    return text


def _masked(match: re.Match[str]) -> str:
    return f"{match.group(1)}{match.group(2)}{MASK}"


def _forms(secret: str) -> tuple[str, ...]:
    """The ways ``secret`` can appear in text: as is and URL-encoded, longest first. Kept for
    the few secrets a process has (a report scrubs dozens of lines with the same two)."""
    from urllib.parse import quote, quote_plus  # only when there is a secret to find

    encoded = {quote(secret, safe=""), quote_plus(secret)}
    encoded |= {_HEX.sub(lambda m: m.group().lower(), form) for form in encoded}  # %2f too
    forms = tuple(sorted({secret, *encoded}, key=len, reverse=True))
    if len(_FORMS) >= 64:
        _FORMS.clear()
    _FORMS[secret] = forms
    return forms


_FORMS: dict[str, tuple[str, ...]] = {}
_HEX = re.compile(r"%[0-9A-F]{2}")


def _filter_class() -> type:
    """The logging filter class, defined on first use: importing logging costs ~5 ms, and
    scrub() is on paths (the command line) that log nothing."""
    if _CLASS:
        return _CLASS[0]
    import logging

    class ScrubFilter(logging.Filter):
        """A logging filter that scrubs secret query values from a record's message."""

        def filter(self, record: logging.LogRecord) -> bool:
            try:
                message = record.getMessage()
            except Exception:  # noqa: BLE001 - a broken record is the logging module's to report
                return True
            clean = scrub(message)
            if clean != message:
                record.msg, record.args = clean, None
            return True

    _CLASS.append(ScrubFilter)
    return ScrubFilter


_CLASS: list[type] = []
_FILTER: list[Any] = []


def __getattr__(name: str) -> Any:
    if name == "ScrubFilter":  # the class, made on first use (see _filter_class)
        return _filter_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def install_log_filter() -> None:
    """Scrub the urllib3 loggers that write request URLs (idempotent)."""
    import logging

    if not _FILTER:
        _FILTER.append(_filter_class()())
    for name in _URLLIB3_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER[0] not in logger.filters:
            logger.addFilter(_FILTER[0])
