"""Settings: explicit arguments > ``configure()`` > ``JOBWATCH_*`` environment > defaults.

An invalid explicit value (a per-job argument or ``configure()``) raises ConfigError at once,
naming the setting and what it accepts. An invalid environment value is found only when a
report is made: it is logged once (naming the variable, never a secret value) and the default
is used, so the job is never harmed by it.

This module is loaded when a function is decorated, so it imports nothing costly (no logging,
dataclasses, re or typing at run time): decorating and a successful call stay near free.
"""

from __future__ import annotations

import os
from _thread import allocate_lock

from .errors import ConfigError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any

__all__ = ["LANGS", "NOTIFY", "Settings", "configure", "parse", "resolve", "split_owners"]

NOTIFY = ("failure", "always", "change", "never")
LANGS = ("zh", "en")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


class Settings:
    """Everything a report needs to know about where and how it is sent (read-only)."""

    __slots__ = (
        "dry_run",
        "flush_timeout",
        "keyword",
        "lang",
        "mention_all",
        "notify",
        "outbox",
        "owners",
        "secret",
        "webhook",
    )
    webhook: str | None
    secret: str | None
    keyword: str | None
    owners: tuple[str, ...]
    notify: str
    lang: str
    outbox: str | None
    flush_timeout: float
    dry_run: bool
    mention_all: bool

    def __init__(self, **values: Any) -> None:
        for name in self.__slots__:
            object.__setattr__(self, name, values.pop(name, _DEFAULTS[name]))
        if values:
            raise TypeError(f"unknown settings: {', '.join(sorted(values))}")

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Settings are read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Settings are read-only")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Settings):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = {n: getattr(self, n) for n in self.__slots__}
        for name in ("webhook", "secret"):
            shown[name] = None if shown[name] is None else "***"
        return "Settings(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"


def _text(name: str, value: object) -> str | None:
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a str, got {type(value).__name__}")
    return value.strip() or None


def _choice(options: tuple[str, ...]) -> Callable[[str, object], str]:
    def parse(name: str, value: object) -> str:
        text = value.strip().lower() if isinstance(value, str) else value
        if text not in options:
            accepted = ", ".join(repr(o) for o in options)
            raise ConfigError(f"{name} must be one of {accepted}, got {value!r}")
        return str(text)

    return parse


def _owners(name: str, value: object) -> tuple[str, ...]:
    items: Iterable[object]
    if isinstance(value, str):
        items = value.split(",")
    elif hasattr(value, "__iter__") and not isinstance(value, (bytes, dict)):
        items = value
    else:
        raise ConfigError(f"{name} must be a list of mobiles or user ids, or a comma-separated str")
    owners = []
    for item in items:
        if not isinstance(item, (str, int)) or isinstance(item, bool):
            raise ConfigError(f"{name} must hold mobiles or user ids (str), got {item!r}")
        text = str(item).strip()
        if text:
            owners.append(text)
    return tuple(dict.fromkeys(owners))


def _seconds(name: str, value: object) -> float:
    try:
        seconds = float(value.strip() if isinstance(value, str) else value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        seconds = float("nan")
    if isinstance(value, bool) or not seconds >= 0 or seconds == float("inf"):
        raise ConfigError(f"{name} must be a number of seconds >= 0, got {value!r}")
    return seconds


def _flag(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigError(f"{name} must be true or false (1/0), got {value!r}")


def _webhook(name: str, value: object) -> str | None:
    text = _text(name, value)
    if text is not None:
        from .senders.signing import Webhook

        try:
            Webhook.parse(text)
        except ConfigError as exc:
            raise ConfigError(f"{name}: {exc}") from None
    return text


def _secret(name: str, value: object) -> str | None:
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a str (the robot's SEC... signing secret)")
    return value.strip() or None


_PARSERS: dict[str, Callable[[str, object], Any]] = {
    "webhook": _webhook,
    "secret": _secret,
    "keyword": _text,
    "owners": _owners,
    "notify": _choice(NOTIFY),
    "lang": _choice(LANGS),
    "outbox": _text,
    "flush_timeout": _seconds,
    "dry_run": _flag,
    "mention_all": _flag,
}
_ENV = {name: f"JOBWATCH_{name.upper()}" for name in _PARSERS if name != "mention_all"}
_DEFAULTS: dict[str, Any] = {
    "webhook": None, "secret": None, "keyword": None, "owners": (), "notify": "failure",
    "lang": "zh", "outbox": None, "flush_timeout": 10.0, "dry_run": False, "mention_all": False,
}
_configured: dict[str, Any] = {}
_lock = allocate_lock()
_warned: set[tuple[str, str]] = set()


def parse(settings: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """Validate explicit settings; None values mean 'not set'. Raise ConfigError when bad."""
    parsed = {}
    for name, value in settings.items():
        if name not in _PARSERS:
            known = ", ".join(sorted(_PARSERS))
            raise ConfigError(f"{where}unknown setting {name!r}; known settings: {known}")
        if value is not None:
            parsed[name] = _PARSERS[name](f"{where}{name}", value)
    return parsed


def configure(**settings: Any) -> None:
    """Set process-wide settings; they win over the environment. ``name=None`` unsets one."""
    parsed = parse(settings, "configure: ")
    with _lock:
        for name, value in settings.items():
            if value is None:
                _configured.pop(name, None)
            else:
                _configured[name] = parsed[name]
        if "notify" in settings:
            quiet_successes.clear()


# Whether a success is quiet (recorded, no message), by raw JOBWATCH_NOTIFY value: the success
# path's one lookup, filled by quiet_from_env() as values are seen. Emptied whenever
# configure() sets or unsets notify, and filled only while notify is not configured, both
# under the lock: no entry can answer for a configured policy.
quiet_successes: dict[Any, bool] = {}


def quiet_from_env(raw: Any, loud: tuple[str, ...]) -> bool:
    """Whether JOBWATCH_NOTIFY (whose raw value is ``raw``) makes successes quiet; remembered
    in quiet_successes unless configure() has set notify meanwhile."""
    quiet = (_from_env("notify") or _DEFAULTS["notify"]) not in loud
    with _lock:
        if "notify" not in _configured:
            quiet_successes[raw] = quiet
    return quiet


def configured(name: str) -> Any:
    """The value ``configure()`` set for ``name``, or None."""
    return _configured.get(name)


def _from_env(name: str) -> Any:
    variable = _ENV.get(name)
    if variable is None:
        return None
    raw = os.environ.get(variable)
    if raw is None or not raw.strip():
        return None
    try:
        return _PARSERS[name](variable, raw)
    except ConfigError as exc:
        secret = name in ("webhook", "secret")
        key = (variable, "" if secret else raw)
        if key not in _warned:
            _warned.add(key)
            detail = "its value is not a usable webhook" if secret else str(exc)
            import logging

            logging.getLogger("jobwatch").warning(
                "jobwatch: ignoring %s: %s; using the default", variable, detail
            )
        return None


def resolve(explicit: Mapping[str, Any] | None = None) -> Settings:
    """The settings in force now: ``explicit`` (already parsed) > configure() > environment."""
    explicit = explicit or {}
    values = {}
    for name in Settings.__slots__:
        value = explicit.get(name)
        if value is None:
            value = _configured.get(name)
        if value is None:
            value = _from_env(name)
        if value is not None:
            values[name] = value
    return Settings(**values)


def split_owners(owners: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Owners as (mobiles, user ids): digits with optional '+', '-' or spaces are mobiles."""
    mobiles, user_ids = [], []
    for owner in owners:
        digits = owner.replace(" ", "").replace("-", "").removeprefix("+")
        if digits.isascii() and digits.isdigit():
            mobiles.append(owner.replace(" ", ""))
        else:
            user_ids.append(owner)
    return tuple(mobiles), tuple(user_ids)
