"""Watch, the one engine that watches a run of a job; ``watch()`` and ``@monitor`` over it.

The job's outcome is sacred: its return value, its exception (the same object, re-raised with a
bare ``raise``, traceback intact) and its exit status are exactly what they would be without
jobwatch. Everything jobwatch does after the job ends (building, rendering, submitting a report)
runs inside ``_guard``, which logs and swallows its own errors.

Cheap by design: this module imports nothing costly, and a successful call under the default
``notify="failure"`` costs one clock read; the report machinery loads on the first failure.
"""

from __future__ import annotations

import os
import sys
import time
from _thread import allocate_lock, get_ident

from . import config, runs
from .errors import ConfigError

# Nothing below is imported at run time: typing, collections.abc, functools, threading and
# contextlib together cost more than the rest of jobwatch's import (see benchmarks/).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import threading
    from collections.abc import AsyncIterator, Awaitable, Callable, Generator
    from types import TracebackType
    from typing import Any, ParamSpec, TypeVar, overload

    from .messages import Message
    from .report import Report

    P = ParamSpec("P")
    R = TypeVar("R")
    F = TypeVar("F", bound=Callable[..., Any])
else:

    def overload(func: Any) -> Any:  # typing's overload, without importing typing's cost
        return func


__all__ = ["Run", "Watch", "monitor", "watch"]

_CO_GENERATOR, _CO_COROUTINE, _CO_ASYNC_GENERATOR = 0x20, 0x80, 0x200
_perf = time.perf_counter

# Reading os.environ costs ~0.7 us per call (it encodes the key); its backing dict does not.
_ENV_DATA: dict[Any, Any] | None = getattr(os.environ, "_data", None)
try:
    _NOTIFY_KEY: Any = os.environ.encodekey("JOBWATCH_NOTIFY")
except AttributeError:  # pragma: no cover - an os.environ without the CPython internals
    _ENV_DATA, _NOTIFY_KEY = None, None
# Whether successes are quiet (recorded in the history, no message), by raw JOBWATCH_NOTIFY
# value; filled as values are seen, so the hot path never parses (config empties it when
# configure() sets notify). "change" must look at every success (it may be a recovery).
_LOUD = ("always", "change")
_QUIET: dict[Any, bool] = config.quiet_successes


def _module(name: str) -> Any:
    """A module of the failure path, loaded on first use. Later uses read sys.modules and
    take no import lock: a thread failing while another forks must not leave the child an
    import lock it can never acquire."""
    module = sys.modules.get(name)
    if module is None or getattr(getattr(module, "__spec__", None), "_initializing", False):
        __import__(name)  # not loaded, or another thread is loading it: wait for it
        module = sys.modules[name]
    return module


def _log() -> Any:
    return _module("logging").getLogger("jobwatch")


def _script_name() -> str:
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] not in ("", "-c", "-m") else ""
    return os.path.basename(argv0) or "python"


class Run:
    """One run under a Watch: ``note(key, value)`` adds a field to its report."""

    __slots__ = ("_ended", "_lock", "_timer", "notes", "perf", "started", "watch")

    def __init__(self, watch: Watch) -> None:
        self.watch = watch
        self.started = time.time()
        self.perf = _perf()
        self.notes: dict[str, object] = {}
        self._timer: threading.Timer | None = None
        self._ended = False
        self._lock = allocate_lock()

    def note(self, key: str, value: object) -> None:
        """Add ``key: value`` to this run's report (shown under the standard fields)."""
        self.notes[str(key)] = value

    def _overrun(self) -> None:
        with self._lock:
            if self._ended:
                return
        elapsed = _perf() - self.perf
        self.watch._emit("overrun", self.started, elapsed, None, dict(self.notes))

    def end(self, exc: BaseException | None) -> None:
        with self._lock:
            self._ended = True
        if self._timer is not None:
            self._timer.cancel()
        self.watch._finish(self.perf, exc, self.notes, self.started)


class Watch:
    """Watches runs of one job and reports them; a sync and async context manager.

    Each ``with`` gets its own Run, so one Watch can be shared by threads, tasks, and nested or
    re-entered blocks. Settings given here win over ``configure()`` and the environment; a bad
    one raises ConfigError now, naming it.
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        owners: list[str] | tuple[str, ...] | str | None = None,
        notify: str | None = None,
        timeout: float | None = None,
        notify_start: bool = False,
        mention_all: bool | None = None,
        webhook: str | None = None,
        secret: str | None = None,
        keyword: str | None = None,
        lang: str | None = None,
        formatter: Callable[[Report], Message] | None = None,
    ) -> None:
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise ConfigError(f"name must be a non-empty str, got {name!r}")
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0
        ):
            raise ConfigError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if formatter is not None and not callable(formatter):
            raise ConfigError("formatter must be a callable(report) returning a message")
        self.name = name.strip() if name else _script_name()
        self.settings = config.parse(
            {
                "owners": owners, "notify": notify, "mention_all": mention_all,
                "webhook": webhook, "secret": secret, "keyword": keyword, "lang": lang,
            }
        )
        self.timeout = timeout
        self.notify_start = bool(notify_start)
        self.formatter = formatter
        self._explicit_notify: str | None = self.settings.get("notify")
        self._runs: list[tuple[tuple[int, int], Run]] = []
        self._marker = f"__jobwatch_reported_{id(self):x}__"  # set on exceptions it reported
        self._lock = allocate_lock()

    def __repr__(self) -> str:
        return f"Watch({self.name!r})"

    # -- the context manager faces -------------------------------------------------------

    def __enter__(self) -> Run:
        return self._push(self.begin())

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        run = self._pop()
        if run is not None:
            run.end(exc)

    async def __aenter__(self) -> Run:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def _push(self, run: Run) -> Run:
        with self._lock:
            self._runs.append((_where(), run))
        return run

    def _pop(self) -> Run | None:
        """The run this block entered: the latest one entered from the same thread and task,
        else (a generator resumed on another thread) the latest one. Never raises."""
        where = _where()
        with self._lock:
            for i in range(len(self._runs) - 1, -1, -1):
                if self._runs[i][0] == where:
                    return self._runs.pop(i)[1]
            return self._runs.pop()[1] if self._runs else None

    # -- the engine --------------------------------------------------------------------

    @property
    def needs_run(self) -> bool:
        """Whether a call needs a Run object (a timer or a start message), not just a clock."""
        return self.timeout is not None or self.notify_start

    def begin(self) -> Run:
        """Start a run: send the start message and arm the overrun timer if asked to."""
        run = Run(self)
        if self.notify_start:
            _guard(self._emit, "started", run.started, None, None, None)
        if self.timeout is not None:
            _guard(self._arm, run)
        return run

    def _arm(self, run: Run) -> None:
        assert self.timeout is not None  # noqa: S101 - begin() checked it
        import threading

        timer = threading.Timer(self.timeout, _guard, args=(run._overrun,))
        timer.daemon = True
        timer.name = f"jobwatch-timeout-{self.name}"
        run._timer = timer
        timer.start()

    def quiet_success(self) -> bool:
        """True when a success makes no report: the hot path's only check."""
        notify = self._explicit_notify or config._configured.get("notify")
        if notify is not None:
            return notify != "always" and notify != "change"
        if _ENV_DATA is None:  # pragma: no cover - an os.environ without CPython's internals
            return config.resolve().notify not in _LOUD
        raw = _ENV_DATA.get(_NOTIFY_KEY)
        quiet = _QUIET.get(raw)
        if quiet is None:  # a value not seen before: parse it once
            quiet = config.quiet_from_env(raw, _LOUD)
        return quiet

    def _finish(
        self, perf: float, exc: BaseException | None, notes: dict[str, object] | None = None,
        started: float | None = None,
    ) -> None:
        """Report a run that ended (``exc`` None: it returned). Never raises.

        An exception already reported by this engine (a recursive watched function fails at
        every level) is not reported again; a report that fails for lack of stack is left to
        the next level up, which has more.
        """
        duration = _perf() - perf
        if exc is not None:
            if self._marker in getattr(exc, "__dict__", ()):
                return
            try:
                self._report_end(duration, exc, notes, started)
            except RecursionError:
                return  # leave the report to an outer level, which has more stack
            except BaseException as error:  # noqa: BLE001 - the boundary with the job
                _log_internal(error)
            try:  # noqa: SIM105 - no weak refs to exceptions: a marker attribute it is
                setattr(exc, self._marker, True)
            except (AttributeError, TypeError):  # pragma: no cover - __slots__ exceptions
                pass
            return
        if self.quiet_success():
            runs.success(self.name, perf, perf + duration)
            return
        _guard(self._report_end, duration, exc, notes, started)

    def _report_end(
        self, duration: float, exc: BaseException | None, notes: dict[str, object] | None,
        started: float | None,
    ) -> None:
        status, exit_code = _module("jobwatch.report").classify(exc)
        ended = time.time()
        self._emit(status, started or ended - duration, duration, exc, notes, ended, exit_code)

    def _emit(
        self, status: str, started: float, duration: float | None, exc: BaseException | None,
        notes: dict[str, object] | None, ended: float | None = None, exit_code: int | None = None,
    ) -> None:
        delivery = _module("jobwatch.delivery")
        render = _module("jobwatch.render")
        report = _module("jobwatch.report")
        settings = config.resolve(self.settings)
        final = status in ("success", "failure", "interrupted")
        recovered = None
        wanted = _wanted(settings.notify, status) if final else settings.notify != "never"
        if final and settings.notify == "change":
            wanted, recovered = runs.decide(self.name, status, lambda: _statuses(self.name))
        if wanted:
            built = report.build(
                self.name, status, started=started, duration=duration, ended=ended, exc=exc,
                exit_code=exit_code, notes=notes, owners=settings.owners,
                recovered_after=recovered,
            )
            message = self._format(built) or render.render(built, settings)
            delivery.submit(
                message, settings, label=self.name, summary=render.summary(built, settings),
                interrupted=status == "interrupted",
            )
        if final:  # the history after the report: a report matters more than a history row
            run = (self.name, report.host_name(), status, started, duration, exit_code)
            try:
                delivery.get().record(run, now=status != "success")
            except Exception as error:  # noqa: BLE001 - best effort: never lose the job's outcome
                _log().debug("jobwatch: run of %r not recorded: %s", self.name, error)

    def _format(self, built: Report) -> Message | None:
        if self.formatter is None:
            return None
        render = _module("jobwatch.render")

        try:
            message = self.formatter(built)
            size = render.body_size(message) if hasattr(message, "payload") else None
        except BaseException as exc:  # noqa: BLE001 - a user's formatter must not lose the report
            _log().warning(
                "jobwatch: formatter for %r failed (%s); using the default report",
                self.name, type(exc).__name__,
            )
            return None
        if size is None:
            _log().warning(
                "jobwatch: formatter for %r returned %s, not a message; using the default",
                self.name, type(message).__name__,
            )
            return None
        if size > render.BODY_BUDGET:
            _log().warning(
                "jobwatch: formatter for %r made a %d-byte message, over DingTalk's limit;"
                " using the default", self.name, size,
            )
            return None
        return message


def _statuses(name: str) -> list[str]:
    """The recorded statuses of job ``name``, newest first (none when unreadable)."""
    try:
        return list(_module("jobwatch.delivery").get().statuses(name))
    except Exception:  # noqa: BLE001 - an unreadable history: decide as for a first run
        return []


def _wanted(notify: str, status: str) -> bool:
    """Whether the notify policy sends a message for a run that ended with ``status``
    (``change`` is decided from the history, in ``_emit``)."""
    if notify == "never":
        return False
    return status != "success" or notify == "always"


def _guard(func: Callable[..., object], *args: object) -> None:
    """Run jobwatch's own work; log its errors, never let them reach the job."""
    try:
        func(*args)
    except BaseException as exc:  # noqa: BLE001 - the boundary between jobwatch and the job
        _log_internal(exc)


def _log_internal(exc: BaseException) -> None:
    try:  # noqa: SIM105 - contextlib is not imported on this path
        _log().warning(
            "jobwatch: internal error, report not sent: %s: %s", type(exc).__name__, exc,
            exc_info=_log().isEnabledFor(10),
        )
    except BaseException:  # noqa: BLE001, S110 - logging itself failed: stay silent
        pass


def _where() -> tuple[int, int]:
    """(thread, asyncio task) of the caller; the task only if asyncio is in use at all."""
    asyncio = sys.modules.get("asyncio")
    task = None
    if asyncio is not None:
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no running loop in this thread
            task = None
    return get_ident(), id(task) if task is not None else 0


watch = Watch
"""``with watch("nightly-etl", owners=[...]) as w:`` (or ``async with``): watch a block.

The default name is the script's file name. The same as constructing a Watch."""


# -- @monitor ---------------------------------------------------------------------------


@overload
def monitor(func: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def monitor(  # noqa: F811 - typing.overload's stand-in, see the imports
    _name: str | None = None,
    /,
    *,
    name: str | None = None,
    owners: list[str] | tuple[str, ...] | str | None = None,
    notify: str | None = None,
    timeout: float | None = None,
    notify_start: bool = False,
    mention_all: bool | None = None,
    webhook: str | None = None,
    secret: str | None = None,
    keyword: str | None = None,
    lang: str | None = None,
    formatter: Callable[[Report], Message] | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def monitor(name: Any = None, /, **options: Any) -> Any:  # noqa: F811
    """Watch every call of a function: ``@monitor`` or ``@monitor("name", owners=[...])``.

    Works on functions, ``async def`` functions, generator and async generator functions (a run
    lasts until the generator is exhausted, closed or raises), methods, classmethods and
    staticmethods. The default name is the function's ``module.qualname``.
    """
    if callable(name) or isinstance(name, (classmethod, staticmethod)):
        if options:
            raise TypeError("use @monitor or @monitor(name, **options), not both")
        return _decorate(name, None, {})
    if "name" in options:
        if name is not None:
            raise TypeError("monitor() got the name twice")
        name = options.pop("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ConfigError(f"name must be a non-empty str, got {name!r}")
    Watch(name or "check", **options)  # validate the options now, where the error is readable
    return lambda func: _decorate(func, name, options)


def _decorate(func: Any, name: str | None, options: dict[str, Any]) -> Any:
    if isinstance(func, (classmethod, staticmethod)):
        return type(func)(_decorate(func.__func__, name, options))
    if not callable(func):
        raise TypeError(f"@monitor needs a function, got {type(func).__name__}")
    default = f"{getattr(func, '__module__', None) or '?'}.{getattr(func, '__qualname__', '?')}"
    engine = Watch(name or default, **options)
    flags = _flags(func)
    if flags & _CO_ASYNC_GENERATOR:
        return _async_generator(func, engine)
    if flags & _CO_COROUTINE or _is_coroutine_function(func, flags):
        return _coroutine(func, engine)
    if flags & _CO_GENERATOR:
        return _generator(func, engine)
    return _function(func, engine)


def _flags(func: Any) -> int:
    """The code flags of ``func``, or of the function it wraps (``__wrapped__``) when a sync
    decorator put around an ``async def`` or a generator would hide what it returns."""
    flags = getattr(getattr(func, "__code__", None), "co_flags", 0)
    inner, seen = func, 0
    while hasattr(inner, "__wrapped__") and seen < 100:
        inner, seen = inner.__wrapped__, seen + 1
    inner_flags = getattr(getattr(inner, "__code__", None), "co_flags", 0)
    kinds = _CO_COROUTINE | _CO_GENERATOR | _CO_ASYNC_GENERATOR
    return flags if flags & kinds or not inner_flags & kinds else flags | (inner_flags & kinds)


def _is_coroutine_function(func: Any, flags: int) -> bool:
    if flags or getattr(func, "__code__", None) is not None:
        return getattr(func, "_is_coroutine_marker", None) is not None
    import inspect  # a partial or callable object: ask inspect, off the hot path

    return inspect.iscoroutinefunction(func)


_WRAPPER_ASSIGNMENTS = (
    "__module__", "__name__", "__qualname__", "__doc__", "__annotations__", "__type_params__"
)


def _wraps(func: object) -> Callable[[F], F]:
    """functools.wraps, without importing functools and collections on the decoration path."""

    def apply(wrapper: F) -> F:
        for name in _WRAPPER_ASSIGNMENTS:
            try:  # noqa: SIM105 - contextlib is not imported on this path
                setattr(wrapper, name, getattr(func, name))
            except (AttributeError, TypeError):
                pass
        wrapper.__dict__.update(getattr(func, "__dict__", {}))
        wrapper.__wrapped__ = func  # type: ignore[attr-defined]
        return wrapper

    return apply


def _function(func: Callable[P, R], engine: Watch) -> Callable[P, R]:
    if engine.needs_run:

        @_wraps(func)
        def watched(*args: P.args, **kwargs: P.kwargs) -> R:
            run = engine.begin()
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                run.end(exc)
                raise
            run.end(None)
            return result

        return watched

    # Everything the success path needs, bound in the closure: it runs on every call, and each
    # attribute lookup or Python-level call would show in benchmarks/success_path.py.
    finish, clock, name = engine._finish, _perf, engine.name
    fixed = None if engine._explicit_notify is None else engine._explicit_notify not in _LOUD
    quiet_by_raw, slow = _QUIET, engine.quiet_success
    env, key = (_ENV_DATA, _NOTIFY_KEY) if _ENV_DATA is not None else ({}, None)
    buffer = runs._SUCCESSES

    @_wraps(func)
    def fast(*args: P.args, **kwargs: P.kwargs) -> R:
        perf = clock()
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            finish(perf, exc)
            raise
        quiet = fixed
        if quiet is None:  # empty while configure() sets notify: then slow() decides
            quiet = quiet_by_raw.get(env.get(key))
            if quiet is None:
                quiet = slow()
        if not quiet:
            finish(perf, None)
        else:  # the run history (a bounded deque: the newest kept), written off this thread
            buffer.append((name, perf, clock()))
        return result

    return fast


def _coroutine(func: Callable[P, Awaitable[R]], engine: Watch) -> Callable[P, Awaitable[R]]:
    @_wraps(func)
    async def watched(*args: P.args, **kwargs: P.kwargs) -> R:
        run = engine.begin() if engine.needs_run else None
        perf = _perf()
        try:
            result = await func(*args, **kwargs)
        except BaseException as exc:
            if run is not None:
                run.end(exc)
            else:
                engine._finish(perf, exc)
            raise
        if run is not None:
            run.end(None)
        elif not engine.quiet_success():
            engine._finish(perf, None)
        return result

    return watched


def _generator(
    func: Callable[P, Generator[Any, Any, Any]], engine: Watch
) -> Callable[P, Generator[Any, Any, Any]]:
    @_wraps(func)
    def watched(*args: P.args, **kwargs: P.kwargs) -> Generator[Any, Any, Any]:
        run = engine.begin()
        try:
            result = yield from func(*args, **kwargs)
        except GeneratorExit:
            run.end(None)  # closed by its consumer: a normal end
            raise
        except BaseException as exc:
            run.end(exc)
            raise
        run.end(None)
        return result

    return watched


def _async_generator(
    func: Callable[P, AsyncIterator[Any]], engine: Watch
) -> Callable[P, AsyncIterator[Any]]:
    @_wraps(func)
    async def watched(*args: P.args, **kwargs: P.kwargs) -> AsyncIterator[Any]:
        agen: Any = func(*args, **kwargs)
        run = engine.begin()
        try:
            try:
                item = await agen.__anext__()
            except StopAsyncIteration:
                run.end(None)
                return
            while True:
                try:
                    sent = yield item
                except GeneratorExit:
                    await agen.aclose()
                    raise
                except BaseException as thrown:  # noqa: BLE001 - thrown into the wrapped one
                    try:
                        item = await agen.athrow(thrown)
                    except StopAsyncIteration:
                        break
                else:
                    try:
                        item = await agen.asend(sent)
                    except StopAsyncIteration:
                        break
        except GeneratorExit:
            run.end(None)
            raise
        except BaseException as exc:
            run.end(exc)
            raise
        run.end(None)

    return watched
