"""Tests of jobwatch.config: precedence, validation, environment parsing, owners, Settings."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from jobwatch import config
from jobwatch.config import Settings, configure, parse, resolve, split_owners
from jobwatch.errors import ConfigError

URL = "https://oapi.dingtalk.com/robot/send?access_token="
KNOWN = (
    "dry_run, flush_timeout, keyword, lang, mention_all, notify, outbox, owners, secret, webhook"
)


# --- precedence: explicit > configure() > environment > defaults ------------------------------

# (setting, its variable, raw "a", parsed "a", raw "b", parsed "b"); a != b and a != default.
LAYERS = [
    ("webhook", "JOBWATCH_WEBHOOK", URL + "tokenA", URL + "tokenA", URL + "tokenB", URL + "tokenB"),
    ("secret", "JOBWATCH_SECRET", "SECaaaaaa", "SECaaaaaa", "SECbbbbbb", "SECbbbbbb"),
    ("keyword", "JOBWATCH_KEYWORD", "alerts", "alerts", "jobs", "jobs"),
    (
        "owners",
        "JOBWATCH_OWNERS",
        "13800000000,user_a",
        ("13800000000", "user_a"),
        "user_b",
        ("user_b",),
    ),
    ("notify", "JOBWATCH_NOTIFY", "always", "always", "never", "never"),
    ("lang", "JOBWATCH_LANG", "en", "en", "zh", "zh"),
    ("outbox", "JOBWATCH_OUTBOX", "/srv/jobs/a.sqlite3", "/srv/jobs/a.sqlite3", "off", "off"),
    ("flush_timeout", "JOBWATCH_FLUSH_TIMEOUT", "2.5", 2.5, "7", 7.0),
    ("dry_run", "JOBWATCH_DRY_RUN", "1", True, "0", False),
]
LAYER_IDS = [row[0] for row in LAYERS]


def test_defaults() -> None:
    """With nothing set, resolve() gives the documented defaults (no webhook: dry run)."""
    settings = resolve()
    assert settings == Settings()
    assert {name: getattr(settings, name) for name in Settings.__slots__} == {
        "dry_run": False,
        "flush_timeout": 10.0,
        "keyword": None,
        "lang": "zh",
        "mention_all": False,
        "notify": "failure",
        "outbox": None,
        "owners": (),
        "secret": None,
        "webhook": None,
    }


@pytest.mark.parametrize(("name", "variable", "raw", "value", "_raw_b", "_value_b"), LAYERS,
                         ids=LAYER_IDS)
def test_environment_beats_default(
    monkeypatch: pytest.MonkeyPatch,
    name: str, variable: str, raw: str, value: object, _raw_b: str, _value_b: object,
) -> None:
    """A JOBWATCH_* variable replaces the default of its setting."""
    monkeypatch.setenv(variable, raw)
    assert getattr(resolve(), name) == value


@pytest.mark.parametrize("swap", [False, True], ids=["a-over-b", "b-over-a"])
@pytest.mark.parametrize(("name", "variable", "raw_a", "value_a", "raw_b", "value_b"), LAYERS,
                         ids=LAYER_IDS)
def test_configure_beats_environment(
    monkeypatch: pytest.MonkeyPatch,
    name: str, variable: str, raw_a: str, value_a: object, raw_b: str, value_b: object,
    swap: bool,
) -> None:
    """configure() wins over the environment variable of the same setting."""
    if swap:
        raw_a, value_a, raw_b = raw_b, value_b, raw_a
    monkeypatch.setenv(variable, raw_b)
    configure(**{name: raw_a})
    assert getattr(resolve(), name) == value_a


@pytest.mark.parametrize("swap", [False, True], ids=["a-over-b", "b-over-a"])
@pytest.mark.parametrize(("name", "variable", "raw_a", "value_a", "raw_b", "value_b"), LAYERS,
                         ids=LAYER_IDS)
def test_explicit_beats_configure_and_environment(
    monkeypatch: pytest.MonkeyPatch,
    name: str, variable: str, raw_a: str, value_a: object, raw_b: str, value_b: object,
    swap: bool,
) -> None:
    """A per-job (explicit) value wins over both configure() and the environment."""
    if swap:
        raw_a, value_a, raw_b = raw_b, value_b, raw_a
    monkeypatch.setenv(variable, raw_b)
    configure(**{name: raw_b})
    assert getattr(resolve(parse({name: raw_a})), name) == value_a


@pytest.mark.parametrize(("name", "variable", "raw_a", "value_a", "raw_b", "value_b"), LAYERS,
                         ids=LAYER_IDS)
def test_configure_none_unsets(
    monkeypatch: pytest.MonkeyPatch,
    name: str, variable: str, raw_a: str, value_a: object, raw_b: str, value_b: object,
) -> None:
    """configure(name=None) removes the configured value, so the environment applies again."""
    monkeypatch.setenv(variable, raw_b)
    configure(**{name: raw_a})
    configure(**{name: None})
    assert getattr(resolve(), name) == value_b
    assert name not in config._configured


@pytest.mark.parametrize(("name", "_variable", "raw_a", "value_a", "raw_b", "_value_b"), LAYERS,
                         ids=LAYER_IDS)
def test_explicit_none_means_not_set(
    name: str, _variable: str, raw_a: str, value_a: object, raw_b: str, _value_b: object,
) -> None:
    """An explicit None (a per-job argument left out) falls through to configure()."""
    configure(**{name: raw_a})
    assert parse({name: None}) == {}
    assert getattr(resolve(parse({name: None})), name) == value_a
    assert getattr(resolve({name: None}), name) == value_a


@pytest.mark.parametrize(
    ("explicit", "configured", "expected"),
    [(True, False, True), (False, True, False), (None, True, True), (None, None, False)],
)
def test_mention_all_precedence(
    explicit: bool | None, configured: bool | None, expected: bool
) -> None:
    """mention_all (no environment variable): explicit > configure() > default False."""
    configure(mention_all=configured)
    assert resolve(parse({"mention_all": explicit})).mention_all is expected


# --- explicit values: ConfigError at once ------------------------------------------------------


def test_config_error_is_a_value_error() -> None:
    """ConfigError is a ValueError, so plain `except ValueError` catches bad settings."""
    assert issubclass(ConfigError, ValueError)
    with pytest.raises(ValueError, match="notify"):
        configure(notify="sometimes")


def test_configure_unknown_setting() -> None:
    """configure(bogus=1) raises ConfigError naming 'bogus' and listing the known settings."""
    with pytest.raises(ConfigError) as info:
        configure(bogus=1)
    assert str(info.value) == f"configure: unknown setting 'bogus'; known settings: {KNOWN}"


BAD = [
    ("notify", "sometimes",
     "notify must be one of 'failure', 'always', 'change', 'never', got 'sometimes'"),
    ("lang", "fr", "lang must be one of 'zh', 'en', got 'fr'"),
    ("flush_timeout", -1, "flush_timeout must be a number of seconds >= 0, got -1"),
    ("flush_timeout", "abc", "flush_timeout must be a number of seconds >= 0, got 'abc'"),
    ("flush_timeout", True, "flush_timeout must be a number of seconds >= 0, got True"),
    ("dry_run", "maybe", "dry_run must be true or false (1/0), got 'maybe'"),
    ("owners", 5, "owners must be a list of mobiles or user ids, or a comma-separated str"),
    (
        "webhook",
        "not a url",
        "webhook: webhook is neither a URL nor an access token (a token has only letters,"
        " digits, '-' and '_'); expected the robot's webhook URL as copied from the group's"
        " robot settings (https://oapi.dingtalk.com/robot/send?access_token=...) or a bare"
        " access token",
    ),
    ("secret", 3, "secret must be a str (the robot's SEC... signing secret)"),
]
BAD_IDS = [f"{name}={value!r}" for name, value, _ in BAD]


@pytest.mark.parametrize(("name", "value", "message"), BAD, ids=BAD_IDS)
def test_bad_explicit_value(name: str, value: object, message: str) -> None:
    """A bad per-job value raises ConfigError naming the setting and what it accepts."""
    with pytest.raises(ConfigError) as info:
        parse({name: value})
    assert str(info.value) == message


@pytest.mark.parametrize(("name", "value", "message"), BAD, ids=BAD_IDS)
def test_bad_configure_value(name: str, value: object, message: str) -> None:
    """A bad configure() value raises ConfigError at once, prefixed 'configure: '."""
    with pytest.raises(ConfigError) as info:
        configure(**{name: value})
    assert str(info.value) == f"configure: {message}"


def test_bad_configure_call_changes_nothing() -> None:
    """configure() with one bad value applies none of its values."""
    with pytest.raises(ConfigError, match="lang"):
        configure(notify="always", lang="fr")
    assert config._configured == {}
    assert resolve().notify == "failure"


@pytest.mark.parametrize(
    "webhook",
    [
        "ftp://x?access_token=SECRETTOKEN123",
        "https://oapi.dingtalk.com/robot/send?access_token=SECRETTOKEN123&access_token=other",
        "https://oapi.dingtalk.com/robot/send?access_token=SECRETTOKEN123!",
        "SECRETTOKEN123 with spaces",
    ],
)
def test_webhook_error_never_echoes_token(webhook: str) -> None:
    """The ConfigError for a bad webhook names the setting but never repeats the token."""
    with pytest.raises(ConfigError) as info:
        configure(webhook=webhook)
    assert str(info.value).startswith("configure: webhook: ")
    assert "SECRETTOKEN123" not in str(info.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["13800000000", " user_a ", "13800000000", ""], ("13800000000", "user_a")),
        ((13800000000, "user_b"), ("13800000000", "user_b")),
        ("user_a, user_b,user_a", ("user_a", "user_b")),
    ],
)
def test_explicit_owners(value: object, expected: tuple[str, ...]) -> None:
    """Owners may be a list (ints allowed) or a comma-separated str; stripped, deduplicated."""
    assert parse({"owners": value}) == {"owners": expected}


# --- environment: tolerant, bad values logged once and ignored --------------------------------

BAD_ENV = [
    (
        "JOBWATCH_NOTIFY", "sometimes", "notify", "failure",
        "jobwatch: ignoring JOBWATCH_NOTIFY: JOBWATCH_NOTIFY must be one of 'failure', 'always',"
        " 'change', 'never', got 'sometimes'; using the default",
    ),
    (
        "JOBWATCH_FLUSH_TIMEOUT", "abc", "flush_timeout", 10.0,
        "jobwatch: ignoring JOBWATCH_FLUSH_TIMEOUT: JOBWATCH_FLUSH_TIMEOUT must be a number of"
        " seconds >= 0, got 'abc'; using the default",
    ),
    (
        "JOBWATCH_WEBHOOK", "ftp://x?access_token=SECRETTOKEN123", "webhook", None,
        "jobwatch: ignoring JOBWATCH_WEBHOOK: its value is not a usable webhook; using the default",
    ),
]


@pytest.mark.parametrize(
    ("variable", "raw", "name", "default", "message"), BAD_ENV, ids=[r[0] for r in BAD_ENV]
)
def test_bad_environment_value_logged_once(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    variable: str, raw: str, name: str, default: object, message: str,
) -> None:
    """A bad JOBWATCH_* value logs one WARNING naming the variable; the default is used."""
    monkeypatch.setenv(variable, raw)
    with caplog.at_level(logging.WARNING, logger="jobwatch"):
        first = resolve()
        second = resolve()
    assert getattr(first, name) == default
    assert getattr(second, name) == default
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        ("jobwatch", logging.WARNING, message)
    ]


def test_bad_environment_webhook_not_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The warning about a bad JOBWATCH_WEBHOOK never contains the token it holds."""
    monkeypatch.setenv("JOBWATCH_WEBHOOK", "ftp://x?access_token=SECRETTOKEN123")
    with caplog.at_level(logging.DEBUG, logger="jobwatch"):
        resolve()
    assert "JOBWATCH_WEBHOOK" in caplog.text
    assert "SECRETTOKEN123" not in caplog.text


def test_blank_environment_value_is_unset(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A variable holding only spaces counts as unset: default, and no warning."""
    monkeypatch.setenv("JOBWATCH_NOTIFY", "   ")
    with caplog.at_level(logging.DEBUG, logger="jobwatch"):
        assert resolve().notify == "failure"
    assert caplog.records == []


@pytest.mark.parametrize(
    ("variable", "raw", "name", "value"),
    [
        ("JOBWATCH_NOTIFY", " Always ", "notify", "always"),
        ("JOBWATCH_NOTIFY", "NEVER", "notify", "never"),
        ("JOBWATCH_LANG", " EN ", "lang", "en"),
        ("JOBWATCH_FLUSH_TIMEOUT", " 2.5 ", "flush_timeout", 2.5),
        ("JOBWATCH_DRY_RUN", " Yes ", "dry_run", True),
        ("JOBWATCH_KEYWORD", "  alerts  ", "keyword", "alerts"),
        ("JOBWATCH_WEBHOOK", f"  {URL}abc  ", "webhook", f"{URL}abc"),
    ],
)
def test_environment_is_case_and_space_tolerant(
    monkeypatch: pytest.MonkeyPatch, variable: str, raw: str, name: str, value: object
) -> None:
    """Environment values are stripped, and choices and flags read case-insensitively."""
    monkeypatch.setenv(variable, raw)
    assert getattr(resolve(), name) == value


def test_environment_owners(monkeypatch: pytest.MonkeyPatch) -> None:
    """JOBWATCH_OWNERS is split on commas, stripped, empty items dropped, deduplicated in order."""
    monkeypatch.setenv("JOBWATCH_OWNERS", "138 0000 0000, +86-13900000000 ,user_a,,user_a")
    assert resolve().owners == ("138 0000 0000", "+86-13900000000", "user_a")


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("1", True), ("0", False), ("true", True), ("false", False), ("yes", True), ("no", False),
        ("TRUE", True), ("No", False),
    ],
)
def test_environment_dry_run(monkeypatch: pytest.MonkeyPatch, raw: str, value: bool) -> None:
    """JOBWATCH_DRY_RUN accepts 1/0, true/false and yes/no."""
    monkeypatch.setenv("JOBWATCH_DRY_RUN", raw)
    assert resolve().dry_run is value


# --- split_owners -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("owners", "mobiles", "user_ids"),
    [
        (("13800000000",), ("13800000000",), ()),
        (("+8613800000000",), ("+8613800000000",), ()),
        (("138-0000-0000",), ("138-0000-0000",), ()),
        (("138 0000 0000",), ("13800000000",), ()),
        (("+86 138 0000 0000",), ("+8613800000000",), ()),
        (("manager01",), (), ("manager01",)),
        (("abc-def",), (), ("abc-def",)),
        (("１２３",), (), ("１２３",)),
        (("138+0000",), (), ("138+0000",)),
        (
            ("user_a", "13800000000", "user_b", "+86-13900000000"),
            ("13800000000", "+86-13900000000"),
            ("user_a", "user_b"),
        ),
    ],
)
def test_split_owners(
    owners: tuple[str, ...], mobiles: tuple[str, ...], user_ids: tuple[str, ...]
) -> None:
    """ASCII digits with an optional leading '+', '-' and spaces are mobiles; else user ids."""
    assert split_owners(owners) == (mobiles, user_ids)


# --- Settings ---------------------------------------------------------------------------------


def test_settings_repr_masks_secrets() -> None:
    """repr(Settings) shows webhook and secret as '***' and contains neither value."""
    settings = Settings(webhook=URL + "TOKEN1234567890", secret="SECsecretvalue123")
    text = repr(settings)
    assert text == (
        "Settings(dry_run=False, flush_timeout=10.0, keyword=None, lang='zh', mention_all=False,"
        " notify='failure', outbox=None, owners=(), secret='***', webhook='***')"
    )
    assert "TOKEN1234567890" not in text
    assert "SECsecretvalue123" not in text


def test_settings_repr_without_secrets() -> None:
    """repr(Settings) shows None (not '***') when no webhook or secret is set."""
    assert "secret=None, webhook=None)" in repr(Settings())


@pytest.mark.parametrize(("name", "value"), [("notify", "always"), ("extra", 1)])
def test_settings_assignment_raises(name: str, value: object) -> None:
    """Settings are read-only: assigning any attribute raises AttributeError."""
    settings = Settings()
    with pytest.raises(AttributeError, match="read-only"):
        setattr(settings, name, value)
    assert settings.notify == "failure"


def test_settings_deletion_raises() -> None:
    """Settings are read-only: deleting an attribute raises AttributeError and keeps it."""
    settings = Settings()
    with pytest.raises(AttributeError):
        del settings.webhook
    assert settings.webhook is None


def test_settings_equal_by_value() -> None:
    """Two Settings with the same values are equal; a different value makes them unequal."""
    values: dict[str, Any] = {"notify": "always", "owners": ("user_a",), "flush_timeout": 2.0}
    assert Settings(**values) == Settings(**values)
    assert Settings(**values) != Settings(**{**values, "notify": "never"})
    assert Settings() != "Settings()"


def test_settings_unknown_name() -> None:
    """Settings(...) with an unknown name raises TypeError naming it."""
    with pytest.raises(TypeError, match="unknown settings: bogus"):
        Settings(bogus=1)


def test_a_late_env_answer_cannot_quiet_a_configured_policy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A thread that read JOBWATCH_NOTIFY before configure(notify=...) cannot leave its answer
    in the success path's table afterwards: the table is filled only while notify is not
    configured (else every later success would stay quiet under notify="always")."""
    monkeypatch.setenv("JOBWATCH_NOTIFY", "failure")
    config.configure(notify="always")
    assert config.quiet_from_env(b"failure", ("always", "change")) is True
    assert config.quiet_successes == {}
    config.configure(notify=None)
    assert config.quiet_from_env(b"failure", ("always", "change")) is True
    assert config.quiet_successes == {b"failure": True}
