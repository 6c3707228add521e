"""Tests of jobwatch.report: classifying outcomes, safe_str, and building a Report."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import os
import platform
import socket
import sys
from types import TracebackType
from typing import Any

import pytest

from jobwatch import report
from jobwatch.report import STATUSES, Report, build, classify, safe_str

STARTED = 1_700_000_000.0


class MyError(Exception):
    """An exception class defined in this test module."""


class Errors:
    """A namespace, so that the nested class has a dotted qualname."""

    class Nested(Exception):
        """An exception class nested in another class."""


class BrokenStr(Exception):
    """An exception whose __str__ raises."""

    def __str__(self) -> str:
        raise RuntimeError("__str__ is broken")


class BrokenBoth(Exception):
    """An exception whose __str__ and __repr__ both raise."""

    def __str__(self) -> str:
        raise RuntimeError("__str__ is broken")

    def __repr__(self) -> str:
        raise RuntimeError("__repr__ is broken")


class BadStr:
    """An object whose __str__ raises but whose __repr__ works."""

    def __str__(self) -> str:
        raise RuntimeError("__str__ is broken")

    def __repr__(self) -> str:
        return "<BadStr>"


class NotStr:
    """An object whose __str__ returns something that is not a str."""

    def __str__(self) -> str:
        return 42  # type: ignore[return-value]

    def __repr__(self) -> str:
        return "<NotStr>"


class BadBoth:
    """An object whose __str__ and __repr__ both raise."""

    def __str__(self) -> str:
        raise RuntimeError("__str__ is broken")

    def __repr__(self) -> str:
        raise RuntimeError("__repr__ is broken")


def _raise_bad_row() -> None:
    raise ValueError("bad row 42")


def caught(func: Any, *args: Any) -> BaseException:
    """The exception ``func(*args)`` raises, with its traceback."""
    try:
        func(*args)
    except BaseException as exc:  # noqa: BLE001 - the tests look at every kind
        return exc
    raise AssertionError(f"{func!r} did not raise")


def _raise(exc: BaseException) -> None:
    raise exc


def build_from(exc: BaseException | None, status: str = "failure", **kwargs: Any) -> Report:
    """build() a report of a failed run ending with ``exc``."""
    return build("nightly-etl", status, started=STARTED, duration=2.5, ended=STARTED + 2.5,
                 exc=exc, **kwargs)


# --- classify ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (None, ("success", None)),
        (ValueError("bad"), ("failure", None)),
        (MyError("bad"), ("failure", None)),
        (KeyboardInterrupt(), ("interrupted", None)),
        (SystemExit(), ("success", 0)),
        (SystemExit(None), ("success", 0)),
        (SystemExit(0), ("success", 0)),
        (SystemExit(3), ("failure", 3)),
        (SystemExit("message"), ("failure", 1)),
        (SystemExit(0.0), ("failure", 1)),
        (GeneratorExit(), ("success", None)),
        (asyncio.CancelledError(), ("interrupted", None)),
        (concurrent.futures.CancelledError(), ("interrupted", None)),
    ],
    ids=repr,
)
def test_classify(exc: BaseException | None, expected: tuple[str, int | None]) -> None:
    """The outcome of a run: status and exit code from how it ended."""
    assert classify(exc) == expected


# --- safe_str ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (42, "42"),
        ("text", "text"),
        (BadStr(), "<BadStr>"),
        (NotStr(), "<NotStr>"),
        (BadBoth(), "<BadBoth object: str() and repr() failed>"),
        (BrokenStr("x"), "BrokenStr('x')"),
    ],
    ids=["int", "str", "broken-str", "str-not-str", "broken-both", "exception-broken-str"],
)
def test_safe_str(value: object, expected: str) -> None:
    """safe_str gives str(), else repr(), else a placeholder naming the type; never raises."""
    assert safe_str(value) == expected


# --- build ------------------------------------------------------------------------------------


def test_build_builtin_exception() -> None:
    """A builtin exception: plain type name, its message, and a traceback ending in its line."""
    built = build_from(caught(_raise_bad_row))
    assert built.status == "failure"
    assert built.exc_type == "ValueError"
    assert built.exc_message == "bad row 42"
    assert built.traceback is not None
    assert built.traceback.startswith("Traceback (most recent call last):\n")
    assert built.traceback.endswith("\nValueError: bad row 42\n")
    assert ", in _raise_bad_row\n" in built.traceback


@pytest.mark.parametrize(
    ("exc", "name"),
    [
        (MyError("boom"), f"{__name__}.MyError"),
        (Errors.Nested("boom"), f"{__name__}.Errors.Nested"),
    ],
    ids=["module-level", "nested"],
)
def test_build_own_exception_type(exc: BaseException, name: str) -> None:
    """A non-builtin exception type is shown as module.qualname, as Python's traceback does."""
    built = build_from(caught(_raise, exc))
    assert built.exc_type == name
    assert built.traceback is not None
    assert built.traceback.endswith(f"\n{name}: boom\n")


def test_build_broken_str_exception() -> None:
    """An exception whose __str__ raises still gets a report, message from its repr."""
    built = build_from(caught(_raise, BrokenStr("bad")))
    assert built.exc_type == f"{__name__}.BrokenStr"
    assert built.exc_message == "BrokenStr('bad')"
    assert isinstance(built.traceback, str)
    assert ", in _raise\n" in built.traceback


def test_build_broken_str_and_repr_exception() -> None:
    """An exception whose __str__ and __repr__ raise still gets a report with a placeholder."""
    built = build_from(caught(_raise, BrokenBoth("bad")))
    assert built.exc_type == f"{__name__}.BrokenBoth"
    assert built.exc_message == "<BrokenBoth object: str() and repr() failed>"
    assert isinstance(built.traceback, str)


@pytest.mark.parametrize(
    ("code", "message", "exit_code"), [(3, "3", 3), ("fatal: no input", "fatal: no input", 1)]
)
def test_build_system_exit_has_no_traceback(code: object, message: str, exit_code: int) -> None:
    """A SystemExit failure reports type, message and exit code, but no traceback text."""
    exc = caught(sys.exit, code)
    status, code_seen = classify(exc)
    built = build_from(exc, status, exit_code=code_seen)
    assert (built.status, built.exit_code) == ("failure", exit_code)
    assert (built.exc_type, built.exc_message, built.traceback) == ("SystemExit", message, None)


def test_build_success_ignores_exception() -> None:
    """A success (SystemExit(0)) carries no exception fields, only the exit code."""
    built = build_from(caught(sys.exit, 0), "success", exit_code=0)
    assert (built.exc_type, built.exc_message, built.traceback, built.exit_code) == (
        None, None, None, 0,
    )


def test_build_interrupted() -> None:
    """KeyboardInterrupt is reported with its type and traceback."""
    built = build_from(caught(_raise, KeyboardInterrupt()), "interrupted")
    assert (built.status, built.exc_type, built.exc_message) == (
        "interrupted", "KeyboardInterrupt", "",
    )
    assert built.traceback is not None
    assert built.traceback.endswith("\nKeyboardInterrupt\n")


def test_build_notes_are_safe_strings() -> None:
    """Notes become a tuple of (str, str) pairs, in order, through safe_str."""
    built = build_from(None, "success", notes={"rows": 42, "object": BadStr(), 7: None})
    assert built.notes == (("rows", "42"), ("object", "<BadStr>"), ("7", "None"))


def test_build_fills_process_fields() -> None:
    """Host, platform, pid and Python version describe this process; times pass through."""
    built = build("job", "success", started=STARTED, duration=2.5, ended=STARTED + 2.5,
                  owners=("13800000000",))
    assert built.host == (socket.gethostname() or platform.node() or "unknown")
    assert built.pid == os.getpid()
    assert built.platform == sys.platform
    assert built.python == platform.python_version()
    assert (built.name, built.started, built.ended, built.duration, built.owners) == (
        "job", STARTED, STARTED + 2.5, 2.5, ("13800000000",),
    )
    assert (built.exc_type, built.exc_message, built.traceback, built.notes) == (
        None, None, None, (),
    )


WRAPPER = '''
def wrapper(func):
    try:
        func()
    except BaseException as exc:
        return exc
'''


def _wrapped_failure() -> BaseException:
    """An exception caught in a frame whose module is jobwatch.monitor, as the wrapper does."""
    namespace: dict[str, Any] = {"__name__": "jobwatch.monitor"}
    exec(compile(WRAPPER, "<jobwatch-wrapper>", "exec"), namespace)  # noqa: S102
    exc: BaseException = namespace["wrapper"](_raise_bad_row)
    return exc


def test_job_frames_drop_wrapper_frames() -> None:
    """The leading frames of jobwatch.monitor are dropped; the job's frames remain."""
    exc = _wrapped_failure()
    tb: TracebackType | None = exc.__traceback__
    assert tb is not None
    assert tb.tb_frame.f_globals["__name__"] == "jobwatch.monitor"
    job = report._job_frames(tb)
    assert job is not None
    assert job.tb_frame.f_code.co_name == "_raise_bad_row"


def test_build_traceback_without_wrapper_frames() -> None:
    """The report's traceback text shows the job's frames, not jobwatch's wrapper."""
    built = build_from(_wrapped_failure())
    assert built.traceback is not None
    assert "<jobwatch-wrapper>" not in built.traceback
    assert ", in _raise_bad_row\n" in built.traceback
    assert built.traceback.endswith("\nValueError: bad row 42\n")


# --- Report -----------------------------------------------------------------------------------


def test_report_is_frozen() -> None:
    """A Report cannot be changed in place; dataclasses.replace makes a changed copy."""
    built = build("job", "success", started=STARTED, duration=1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.status = "failure"  # type: ignore[misc]
    assert dataclasses.replace(built, status="failure").status == "failure"
    assert built.status == "success"


@pytest.mark.parametrize(
    ("status", "failed"),
    [("success", False), ("failure", True), ("interrupted", True), ("started", False),
     ("overrun", False)],
)
def test_report_failed(status: str, failed: bool) -> None:
    """`failed` is True only for failure and interrupted, the outcomes that mention owners."""
    assert status in STATUSES
    built = build("job", status, started=STARTED, duration=1.0)
    assert built.failed is failed
