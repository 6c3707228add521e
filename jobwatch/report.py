"""Report: what happened to one run of a job, as plain data. No I/O, no HTTP.

Building a report never raises: an exception whose ``__str__`` or ``__repr__`` fails, or
whose traceback cannot be formatted, still gets a report with what could be read.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
import traceback
from dataclasses import dataclass
from types import TracebackType

__all__ = ["STATUSES", "CommandFailed", "Report", "build", "classify", "host_name", "safe_str"]

# success, failure and interrupted end a run; started and overrun are sent while it runs.
STATUSES = ("success", "failure", "interrupted", "started", "overrun")

_HOST: list[str] = []


@dataclass(frozen=True, slots=True)
class Report:
    """One run of a job (or its start, or an overrun warning)."""

    name: str
    status: str
    started: float
    ended: float | None
    duration: float | None
    host: str
    platform: str
    pid: int
    python: str
    exc_type: str | None = None
    exc_message: str | None = None
    traceback: str | None = None
    exit_code: int | None = None
    notes: tuple[tuple[str, str], ...] = ()
    owners: tuple[str, ...] = ()
    recovered_after: int | None = None  # notify="change": a success after this many failures

    @property
    def failed(self) -> bool:
        """Whether the run failed or was interrupted: the outcomes that mention owners."""
        return self.status in ("failure", "interrupted")


class CommandFailed(Exception):
    """How a watched shell command ended badly: its exit status and the tail of its output."""

    def __init__(self, exit_status: int, description: str, output_tail: str) -> None:
        super().__init__(description)
        self.exit_status = exit_status
        self.output_tail = output_tail


CommandFailed.__module__ = "builtins"  # reports show "CommandFailed: exit status 3"


def safe_str(value: object) -> str:
    """``str(value)``, falling back to repr and then to the type name; never raises."""
    for convert in (str, repr):
        try:
            text = convert(value)
        except Exception:  # noqa: BLE001, S112 - a broken __str__ is the job's, not ours
            continue
        if isinstance(text, str):
            return text
    try:
        name = type(value).__name__
    except Exception:  # noqa: BLE001 - nothing more to try
        name = "object"
    return f"<{name} object: str() and repr() failed>"


def classify(exc: BaseException | None) -> tuple[str, int | None]:
    """The status and exit code of a run that ended with ``exc`` (None: returned)."""
    if exc is None or isinstance(exc, GeneratorExit):  # GeneratorExit: closed by its consumer
        return "success", None
    if isinstance(exc, KeyboardInterrupt) or _is_cancellation(exc):
        return "interrupted", None
    if isinstance(exc, CommandFailed):
        return "failure", exc.exit_status
    if isinstance(exc, SystemExit):
        code = exc.code
        if code is None or (isinstance(code, int) and code == 0):
            return "success", 0
        # Python prints any other object and exits 1.
        return "failure", code if isinstance(code, int) and not isinstance(code, bool) else 1
    return "failure", None


def _is_cancellation(exc: BaseException) -> bool:
    """asyncio's or concurrent.futures' CancelledError, without importing either."""
    return any(
        cls.__name__ == "CancelledError"
        and cls.__module__ in ("asyncio.exceptions", "concurrent.futures._base")
        for cls in type(exc).__mro__
    )


def _type_name(exc: BaseException) -> str:
    cls = type(exc)
    module = getattr(cls, "__module__", None)
    name = getattr(cls, "__qualname__", cls.__name__)
    return name if module in (None, "builtins", "__main__") else f"{module}.{name}"


def _job_frames(tb: TracebackType | None) -> TracebackType | None:
    """The traceback without the leading frames of jobwatch's own wrappers."""
    while tb is not None and tb.tb_frame.f_globals.get("__name__") == "jobwatch.monitor":
        tb = tb.tb_next
    return tb


def _traceback(exc: BaseException, tb: TracebackType | None) -> str:
    try:
        return "".join(traceback.format_exception(type(exc), exc, tb))
    except Exception:  # noqa: BLE001 - a report without frames beats no report
        return f"{_type_name(exc)}: {safe_str(exc)}\n(jobwatch could not format the traceback)"


def host_name() -> str:
    """This host's name (cached)."""
    if not _HOST:
        try:
            name = os.uname().nodename if hasattr(os, "uname") else socket.gethostname()
            _HOST.append(name or platform.node() or "unknown")
        except OSError:
            _HOST.append("unknown")
    return _HOST[0]


def build(
    name: str,
    status: str,
    *,
    started: float,
    duration: float | None,
    ended: float | None = None,
    exc: BaseException | None = None,
    exit_code: int | None = None,
    notes: dict[str, object] | None = None,
    owners: tuple[str, ...] = (),
    recovered_after: int | None = None,
) -> Report:
    """A Report for this process, with the exception's text and traceback if there is one."""
    exc_type = exc_message = text = None
    if exc is not None and status != "success":
        exc_type = _type_name(exc)
        exc_message = safe_str(exc)
        text = _traceback(exc, _job_frames(exc.__traceback__))
        if isinstance(exc, SystemExit):
            text = None
        if isinstance(exc, CommandFailed):  # a command's output, not Python frames
            text = f"{exc.output_tail.rstrip()}\n{exc_type}: {exc_message}"
    return Report(
        name=name,
        status=status,
        started=started,
        ended=ended,
        duration=duration,
        host=host_name(),
        platform=sys.platform,
        pid=os.getpid(),
        python=platform.python_version(),
        exc_type=exc_type,
        exc_message=exc_message,
        traceback=text,
        exit_code=exit_code,
        notes=tuple((safe_str(k), safe_str(v)) for k, v in (notes or {}).items()),
        owners=owners,
        recovered_after=recovered_after,
    )
