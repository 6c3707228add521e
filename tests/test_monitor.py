"""@monitor and watch() in process, reporting to FakeDingTalk: every outcome, job unharmed."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import threading
import traceback
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import jobwatch
from jobwatch import ConfigError, Markdown, Report, Text, delivery, monitor, watch
from jobwatch.testing import FakeDingTalk, Fault


class JobError(Exception):
    pass


def delivered(robot: FakeDingTalk) -> list[dict[str, Any]]:
    """The messages the robot accepted, once everything queued has been sent."""
    assert jobwatch.flush(10)
    return robot.messages


def markdown(robot: FakeDingTalk) -> list[tuple[str, str]]:
    return [(m["markdown"]["title"], m["markdown"]["text"]) for m in delivered(robot)]


def capture(into: list[tuple[str, dict[str, str]]]) -> Any:
    """A formatter that records each report's status and notes (digests merge messages)."""

    def formatter(report: Report) -> Text:
        into.append((report.status, dict(report.notes)))
        return Text(f"{report.name} {report.status}")

    return formatter


# -- outcomes -------------------------------------------------------------------------------


def test_success_returns_the_value_and_sends_nothing(robot: FakeDingTalk) -> None:
    """With the default notify="failure" a successful call returns its value, silently."""

    @monitor
    def job(x: int, *, y: int = 1) -> tuple[int, int]:
        return x, y

    assert job(2, y=3) == (2, 3)
    assert delivered(robot) == []


def test_failure_reraises_the_same_exception_with_its_frames(robot: FakeDingTalk) -> None:
    """The job's exception object reaches the caller unchanged, traceback frames intact."""
    raised: list[BaseException] = []

    def inner() -> None:
        exc = JobError("bad row 42")
        raised.append(exc)
        raise exc

    @monitor("nightly-etl")
    def job() -> None:
        inner()

    with pytest.raises(JobError) as caught:
        job()
    assert caught.value is raised[0]
    frames = [f.name for f in traceback.extract_tb(caught.value.__traceback__)]
    assert frames[-2:] == ["job", "inner"]
    assert caught.value.__context__ is None
    ((title, text),) = markdown(robot)
    assert title == "程序执行情况: nightly-etl 失败"
    module = JobError.__module__.replace("_", "\\_")
    assert f"**异常信息: {module}.JobError: bad row 42**" in text
    assert "in inner  \n> \xa0\xa0\xa0\xa0raise exc  \n" in text


def test_default_name_is_module_and_qualname(robot: FakeDingTalk) -> None:
    """Without a name, a function's report is named module.qualname."""

    @monitor
    def job() -> None:
        raise JobError("x")

    with pytest.raises(JobError):
        job()
    ((title, _),) = markdown(robot)
    qualname = "test_default_name_is_module_and_qualname.<locals>.job"
    assert title == f"程序执行情况: {JobError.__module__}.{qualname} 失败"


@pytest.mark.parametrize(
    ("notify", "sent"), [("always", 1), ("failure", 0), ("never", 0), ("change", 0)]
)
def test_notify_policy_on_success(robot: FakeDingTalk, notify: str, sent: int) -> None:
    """Only notify="always" reports a success."""

    @monitor("job", notify=notify)
    def job() -> None:
        pass

    job()
    assert len(delivered(robot)) == sent


def test_never_silences_failures(robot: FakeDingTalk) -> None:
    """notify="never" sends nothing even when the job fails."""

    @monitor("job", notify="never")
    def job() -> None:
        raise JobError

    with pytest.raises(JobError):
        job()
    assert delivered(robot) == []


def test_environment_policy_is_read_at_call_time(
    robot: FakeDingTalk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """JOBWATCH_NOTIFY set after decoration applies to the next call."""

    @monitor("job")
    def job() -> None:
        pass

    job()
    monkeypatch.setenv("JOBWATCH_NOTIFY", " Always ")
    job()
    monkeypatch.setenv("JOBWATCH_NOTIFY", "failure")
    job()
    assert [t for t, _ in markdown(robot)] == ["程序执行情况: job 成功"]


def test_configure_beats_environment_and_explicit_beats_configure(
    robot: FakeDingTalk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """explicit argument > configure() > environment."""
    monkeypatch.setenv("JOBWATCH_NOTIFY", "never")
    jobwatch.configure(notify="always")

    @monitor("configured")
    def configured() -> None:
        pass

    @monitor("explicit", notify="failure")
    def explicit() -> None:
        pass

    configured()
    explicit()
    assert [t for t, _ in markdown(robot)] == ["程序执行情况: configured 成功"]


@pytest.mark.parametrize("code", [0, None])
def test_system_exit_zero_is_success(robot: FakeDingTalk, code: int | None) -> None:
    """SystemExit(0) and SystemExit(None) are successes, re-raised as they were."""
    exc = SystemExit(code)

    @monitor("job", notify="always")
    def job() -> None:
        raise exc

    with pytest.raises(SystemExit) as caught:
        job()
    assert caught.value is exc
    ((title, text),) = markdown(robot)
    assert title == "程序执行情况: job 成功"
    assert "**退出码: 0**" in text


def test_system_exit_nonzero_is_failure_with_its_code(robot: FakeDingTalk) -> None:
    """SystemExit(3) is a failure that shows exit code 3 and no traceback."""

    @monitor("job")
    def job() -> None:
        sys.exit(3)

    with pytest.raises(SystemExit) as caught:
        job()
    assert caught.value.code == 3
    ((title, text),) = markdown(robot)
    assert title == "程序执行情况: job 失败"
    assert "**退出码: 3**" in text
    assert "Traceback" not in text


def test_keyboard_interrupt_is_reported_as_interrupted(robot: FakeDingTalk) -> None:
    """KeyboardInterrupt is re-raised and reported as interrupted, mentioning the owners."""

    @monitor("job", owners=["13800000000"], lang="en")
    def job() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        job()
    (message,) = delivered(robot)
    assert message["markdown"]["title"] == "Job report: job interrupted"
    assert message["at"] == {"atMobiles": ["13800000000"], "isAtAll": False}


def test_owners_are_mentioned_on_failure_only(robot: FakeDingTalk) -> None:
    """Owners are @-mentioned, in text and in at, on failure but not on success."""
    jobwatch.configure(owners="13800000000, manager01", notify="always")

    @monitor("job")
    def job(fail: bool) -> None:
        if fail:
            raise JobError("boom")

    job(False)
    assert jobwatch.flush(10)
    with pytest.raises(JobError):
        job(True)
    success, failure = delivered(robot)
    assert "at" not in success
    assert failure["at"] == {
        "atMobiles": ["13800000000"], "atUserIds": ["manager01"], "isAtAll": False
    }
    assert failure["markdown"]["text"].endswith("\n\n@13800000000 @manager01")


def test_mention_all(robot: FakeDingTalk) -> None:
    """mention_all=True mentions everyone and no individual."""

    @monitor("job", owners=["13800000000"], mention_all=True)
    def job() -> None:
        raise JobError

    with pytest.raises(JobError):
        job()
    (message,) = delivered(robot)
    assert message["at"] == {"isAtAll": True}
    assert "@13800000000" not in message["markdown"]["text"]


def test_broken_str_still_gets_a_report(robot: FakeDingTalk) -> None:
    """An exception whose __str__ and __repr__ raise is re-raised and still reported."""

    class Broken(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no str")

        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    @monitor("job")
    def job() -> None:
        raise Broken

    with pytest.raises(Broken):
        job()
    ((title, text),) = markdown(robot)
    assert title == "程序执行情况: job 失败"
    assert "Broken" in text


def test_huge_message_is_delivered_within_the_limit(robot: FakeDingTalk) -> None:
    """A 200 KB exception message is cut so DingTalk accepts the report."""

    @monitor("job")
    def job() -> None:
        raise JobError("x" * 200_000)

    with pytest.raises(JobError):
        job()
    (message,) = delivered(robot)
    assert robot.requests[-1].errcode == 0
    assert len(robot.requests[-1].body) <= 20_000
    assert "JobError: xxxx" in message["markdown"]["text"]


def test_deep_recursion_keeps_the_innermost_frame(robot: FakeDingTalk) -> None:
    """A RecursionError traceback fits the limit and keeps its innermost frames."""

    def dive(n: int) -> int:
        return dive(n + 1) + 1

    @monitor("job")
    def job() -> None:
        dive(0)

    with pytest.raises(RecursionError):
        job()
    (message,) = delivered(robot)
    text = message["markdown"]["text"]
    assert len(robot.requests[-1].body) <= 20_000
    assert "in dive" in text.rsplit("  \n", 5)[0]
    assert text.rstrip().endswith("RecursionError: maximum recursion depth exceeded")


def test_secrets_are_scrubbed_from_the_report(robot: FakeDingTalk) -> None:
    """The token and secret in an exception text never reach DingTalk."""

    @monitor("job")
    def job() -> None:
        raise JobError(f"failed posting to {robot.webhook} with {robot.secret}")

    with pytest.raises(JobError):
        job()
    body = robot.requests[-1].body.decode() if delivered(robot) else ""
    assert robot.token not in body
    assert str(robot.secret) not in body
    assert "access\\\\_token=\\\\*\\\\*\\\\*" in body


# -- the shapes of functions ------------------------------------------------------------------


def test_metadata_is_kept() -> None:
    """functools.wraps metadata and __wrapped__ are those of the function."""

    def job(a: int) -> int:
        """Doc of job."""
        return a

    wrapped = monitor(job)
    assert wrapped.__name__ == "job"
    assert wrapped.__doc__ == "Doc of job."
    assert wrapped.__wrapped__ is job  # type: ignore[attr-defined]
    assert wrapped.__qualname__ == job.__qualname__


def test_async_function(robot: FakeDingTalk) -> None:
    """An async def keeps its return value and its failure is reported after it is awaited."""

    @monitor("ajob")
    async def job(fail: bool) -> str:
        await asyncio.sleep(0)
        if fail:
            raise JobError("async boom")
        return "done"

    assert asyncio.iscoroutinefunction(job)
    assert asyncio.run(job(False)) == "done"
    with pytest.raises(JobError, match="async boom"):
        asyncio.run(job(True))
    assert [t for t, _ in markdown(robot)] == ["程序执行情况: ajob 失败"]


def test_generator_run_lasts_until_exhausted(robot: FakeDingTalk) -> None:
    """A generator's run ends when it is exhausted; a failure mid-way is reported."""

    @monitor("gen", notify="always")
    def numbers(stop: int, fail_at: int | None = None) -> Iterator[int]:
        for i in range(stop):
            if i == fail_at:
                raise JobError(f"at {i}")
            yield i

    gen = numbers(3)
    assert next(gen) == 0
    assert delivered(robot) == []
    assert list(gen) == [1, 2]
    assert jobwatch.flush(10)
    with pytest.raises(JobError, match="at 1"):
        list(numbers(3, fail_at=1))
    assert [t for t, _ in markdown(robot)] == ["程序执行情况: gen 成功", "程序执行情况: gen 失败"]


def test_closed_generator_is_a_success(robot: FakeDingTalk) -> None:
    """A generator closed by its consumer ends its run as a success."""

    @monitor("gen", notify="always")
    def numbers() -> Iterator[int]:
        yield from range(10)

    gen = numbers()
    next(gen)
    gen.close()
    assert [t for t, _ in markdown(robot)] == ["程序执行情况: gen 成功"]


def test_generator_send_and_return_value_pass_through() -> None:
    """send() reaches the wrapped generator and its return value reaches yield from."""

    @monitor("gen", notify="never")
    def echo() -> Iterator[Any]:
        received = yield "ready"
        return f"got {received}"

    def consume() -> Iterator[Any]:
        result = yield from echo()
        yield result

    outer = consume()
    assert next(outer) == "ready"
    assert outer.send("x") == "got x"


def test_async_generator(robot: FakeDingTalk) -> None:
    """An async generator is watched until exhausted; its failure is reported."""

    @monitor("agen")
    async def numbers(fail: bool) -> AsyncIterator[int]:
        for i in range(3):
            if fail and i == 2:
                raise JobError("agen boom")
            yield i

    async def collect(fail: bool) -> list[int]:
        return [i async for i in numbers(fail)]

    assert asyncio.run(collect(False)) == [0, 1, 2]
    with pytest.raises(JobError, match="agen boom"):
        asyncio.run(collect(True))
    assert [t for t, _ in markdown(robot)] == ["程序执行情况: agen 失败"]


def test_methods_classmethods_and_staticmethods(robot: FakeDingTalk) -> None:
    """Methods, classmethods and staticmethods work with @monitor on either side."""

    class Jobs:
        factor = 10

        @monitor
        def method(self, x: int) -> int:
            return x * self.factor

        @classmethod
        @monitor
        def inner_cls(cls, x: int) -> int:
            return x + cls.factor

        @monitor  # type: ignore[arg-type]
        @classmethod
        def outer_cls(cls, x: int) -> int:
            return x - cls.factor

        @staticmethod
        @monitor
        def inner_static(x: int) -> int:
            return -x

        @monitor  # type: ignore[arg-type]
        @staticmethod
        def outer_static(x: int) -> int:
            raise JobError(f"static {x}")

    jobs = Jobs()
    assert (jobs.method(2), Jobs.inner_cls(2), Jobs.outer_cls(2), jobs.inner_static(2)) == (
        20, 12, -8, -2
    )
    with pytest.raises(JobError, match="static 5"):
        Jobs.outer_static(5)  # type: ignore[call-arg]
    ((title, _),) = markdown(robot)
    assert title.endswith("<locals>.Jobs.outer_static 失败")


def test_sixteen_threads_failing_at_once_each_keep_their_own(robot: FakeDingTalk) -> None:
    """Concurrent failing runs each re-raise their own exception and send their own report."""
    robot.rate_limit = 100
    barrier = threading.Barrier(16)
    caught: dict[int, BaseException] = {}

    @monitor("threaded")
    def job(n: int) -> None:
        barrier.wait()
        raise JobError(f"thread {n}")

    def run(n: int) -> None:
        try:
            job(n)
        except JobError as exc:
            caught[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {n: str(e) for n, e in caught.items()} == {n: f"thread {n}" for n in range(16)}
    text = "\n".join(t for _, t in markdown(robot))  # one report each, merged into digests
    found = {int(n) for n in re.findall(r"JobError: thread (\d+)", text)}
    assert sorted(found) == list(range(16))


# -- watch() ------------------------------------------------------------------------------------


def test_watch_block_failure_and_notes(robot: FakeDingTalk) -> None:
    """A failing with-block is reported with its notes; the exception propagates."""

    def script() -> None:
        with watch("etl", lang="en") as w:
            w.note("rows", 42)
            raise JobError("bad")

    with pytest.raises(JobError):
        script()
    ((title, text),) = markdown(robot)
    assert title == "Job report: etl failed"
    assert "**rows: 42**" in text


def test_watch_default_name_is_the_script(
    robot: FakeDingTalk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """watch() without a name uses the script's file name."""
    monkeypatch.setattr(sys, "argv", ["/opt/jobs/nightly_backup.py", "--full"])
    with pytest.raises(JobError), watch():
        raise JobError
    ((title, _),) = markdown(robot)
    assert title == "程序执行情况: nightly_backup.py 失败"


def test_nested_and_reentered_watches(robot: FakeDingTalk) -> None:
    """Nested blocks report separately; one Watch re-entered keeps a run per level."""
    seen: list[tuple[str, dict[str, str]]] = []
    outer = watch("outer", notify="always", formatter=capture(seen))
    with outer as first:
        first.note("level", 1)
        with outer as second:
            second.note("level", 2)
        with pytest.raises(JobError), watch("inner", formatter=capture(seen)):
            raise JobError("inner failed")
    assert seen == [
        ("success", {"level": "2"}), ("failure", {}), ("success", {"level": "1"})
    ]
    assert jobwatch.flush(10)


def test_async_with_watch(robot: FakeDingTalk) -> None:
    """async with watch() reports a failing block and keeps per-task runs apart."""

    async def task(n: int) -> None:
        async with shared as run:
            run.note("task", n)
            await asyncio.sleep(0)
            if n == 1:
                raise JobError("task 1")

    async def main() -> list[BaseException | None]:
        return await asyncio.gather(task(0), task(1), task(2), return_exceptions=True)

    seen: list[tuple[str, dict[str, str]]] = []
    shared = watch("tasks", notify="always", formatter=capture(seen))
    results = asyncio.run(main())
    assert [type(r).__name__ for r in results] == ["NoneType", "JobError", "NoneType"]
    assert sorted((notes["task"], status) for status, notes in seen) == [
        ("0", "success"), ("1", "failure"), ("2", "success")
    ]
    assert jobwatch.flush(10)


def test_watch_exit_returns_none(robot: FakeDingTalk) -> None:
    """__exit__ never suppresses the job's exception."""
    w = watch("job", notify="never")
    w.__enter__()
    assert w.__exit__(JobError, JobError("x"), None) is None


# -- start, overrun, formatter ----------------------------------------------------------------


def test_notify_start_sends_a_started_message(robot: FakeDingTalk) -> None:
    """notify_start=True sends "started" before the job's own outcome."""

    @monitor("job", notify_start=True, notify="always")
    def job() -> int:
        return 7

    assert job() == 7
    ((title, text),) = markdown(robot)  # both reports, merged into one digest
    assert title == "程序执行情况: 2 条报告（0 条失败）"
    assert "▶️ **job** 开始运行" in text
    assert "✅ **job** 成功" in text


def test_overrun_warning_fires_once_while_the_job_runs(robot: FakeDingTalk) -> None:
    """timeout sends one "still running" warning during the run, and none after it."""
    warned = threading.Event()

    def wait_for_warning() -> None:
        for _ in range(200):
            if robot.messages:
                warned.set()
                return
            threading.Event().wait(0.01)

    @monitor("slow", timeout=0.05)
    def job() -> str:
        wait_for_warning()
        return "finished"

    assert job() == "finished"
    assert warned.is_set()
    ((title, text),) = markdown(robot)
    assert title == "程序执行情况: slow 仍在运行"
    assert "**已运行: " in text


def test_overrun_timer_is_cancelled_when_the_job_ends(robot: FakeDingTalk) -> None:
    """A job that ends before its timeout leaves no timer thread behind."""

    @monitor("quick", timeout=3600)
    def job() -> None:
        pass

    job()
    timers = [t for t in threading.enumerate() if t.name == "jobwatch-timeout-quick"]
    for timer in timers:
        timer.join(5)  # a cancelled timer ends at once; an armed one would wait an hour
    assert [t.is_alive() for t in timers] == [False] * len(timers)
    assert delivered(robot) == []


def test_formatter_replaces_the_rendering(robot: FakeDingTalk) -> None:
    """A formatter's message is sent instead of the default report."""

    def short(report: Report) -> Text:
        return Text(f"{report.name}: {report.status} ({report.exc_type})")

    @monitor("job", formatter=short)
    def job() -> None:
        raise JobError

    with pytest.raises(JobError):
        job()
    assert [m["text"]["content"] for m in delivered(robot)] == [
        f"job: failure ({JobError.__module__}.JobError)"
    ]


def test_broken_formatter_falls_back_to_the_default(
    robot: FakeDingTalk, caplog: pytest.LogCaptureFixture
) -> None:
    """A formatter that raises is logged and the default report is sent."""

    def broken(report: Report) -> Markdown:
        raise RuntimeError("formatter bug")

    @monitor("job", formatter=broken)
    def job() -> None:
        raise JobError

    with pytest.raises(JobError):
        job()
    assert [t for t, _ in markdown(robot)] == ["程序执行情况: job 失败"]
    assert [r.getMessage() for r in caplog.records if r.name == "jobwatch"] == [
        "jobwatch: formatter for 'job' failed (RuntimeError); using the default report"
    ]


# -- never harm the job -----------------------------------------------------------------------


def test_internal_error_is_logged_not_raised(
    robot: FakeDingTalk, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug in rendering is logged once; the job's own exception and value are untouched."""
    from jobwatch import render

    def explode(*args: object) -> None:
        raise RuntimeError("render bug")

    monkeypatch.setattr(render, "render", explode)

    @monitor("job")
    def job() -> None:
        raise JobError("the job's own")

    with pytest.raises(JobError, match="the job's own") as caught:
        job()
    assert caught.value.__context__ is None
    assert [r.getMessage() for r in caplog.records if r.name == "jobwatch"] == [
        "jobwatch: internal error, report not sent: RuntimeError: render bug"
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"notify": "sometimes"}, "notify must be one of 'failure', 'always', 'change', 'never'"),
        ({"lang": "fr"}, "lang must be one of 'zh', 'en'"),
        ({"timeout": -1}, "timeout must be a positive number of seconds"),
        ({"owners": 5}, "owners must be a list of mobiles or user ids"),
        ({"webhook": "not a webhook"}, "webhook: webhook is neither a URL nor an access token"),
    ],
)
def test_bad_options_raise_config_error_at_decoration(
    kwargs: dict[str, Any], message: str
) -> None:
    """A bad per-job option raises ConfigError when decorating, naming the option."""
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        monitor("job", **kwargs)
    with pytest.raises(ConfigError):
        watch("job", **kwargs)


def test_dry_run_prints_the_report_once_with_a_notice(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a webhook the report is printed to stderr, the how-to notice only once."""

    @monitor("dry")
    def job() -> None:
        raise JobError("not sent")

    for _ in range(2):
        with pytest.raises(JobError):
            job()
    err = capsys.readouterr().err
    assert err.count("jobwatch: no webhook is configured") == 1
    assert "JOBWATCH_WEBHOOK" in err
    assert err.count("----- jobwatch dry run: 程序执行情况: dry 失败 -----") == 2


def test_dry_run_variable_wins_over_a_webhook(
    robot: FakeDingTalk, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """JOBWATCH_DRY_RUN=1 prints instead of sending, even with a webhook configured."""
    monkeypatch.setenv("JOBWATCH_DRY_RUN", "1")

    @monitor("job")
    def job() -> None:
        raise JobError

    with pytest.raises(JobError):
        job()
    assert delivered(robot) == []
    assert "JOBWATCH_DRY_RUN is set" in capsys.readouterr().err


def test_rejected_report_is_logged_and_the_job_unaffected(
    robot: FakeDingTalk, caplog: pytest.LogCaptureFixture
) -> None:
    """DingTalk refusing the report (wrong secret) logs one ERROR; the job's error is its own."""
    jobwatch.configure(secret="SECwrong-secret-value")

    @monitor("job")
    def job() -> None:
        raise JobError("mine")

    with pytest.raises(JobError, match="mine"):
        job()
    assert jobwatch.flush(10) is False  # not delivered
    records = [r for r in caplog.records if r.name == "jobwatch"]
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (
            logging.ERROR,
            "jobwatch: DingTalk refused the report of 'job': DingTalk rejected the message:"
            " errcode 310000: sign not match (a security setting refused it: check the signing"
            " secret (SEC...), the robot's keyword, or its IP allow-list; errmsg says which);"
            " the report is kept as dead in the outbox",
        )
    ]


# -- review findings: things that must not change the job's outcome ----------------------------


def test_recursive_failure_is_reported_once(robot: FakeDingTalk) -> None:
    """A watched function that recurses and fails deep down sends one report, not one a level."""

    @monitor("recursive")
    def walk(depth: int) -> int:
        if depth == 0:
            raise JobError("bottom")
        return walk(depth - 1) + 1

    with pytest.raises(JobError, match="bottom"):
        walk(50)
    assert [t for t, _ in markdown(robot)] == ["程序执行情况: recursive 失败"]


def test_str_raising_system_exit_cannot_change_the_outcome(robot: FakeDingTalk) -> None:
    """An exception whose __str__ raises SystemExit is still the exception the caller gets."""

    class Nasty(Exception):
        def __str__(self) -> str:
            raise SystemExit(9)

    @monitor("nasty")
    def job() -> None:
        raise Nasty

    with pytest.raises(Nasty):
        job()
    assert jobwatch.flush(10)


def test_start_message_failure_never_stops_the_job(
    robot: FakeDingTalk, caplog: pytest.LogCaptureFixture
) -> None:
    """A formatter that breaks the "started" message is logged; the job still runs."""

    class Junk:
        def payload(self) -> dict[str, Any]:
            raise RuntimeError("junk payload")

    ran = []
    with watch("job", notify_start=True, formatter=lambda r: Junk()):  # type: ignore[arg-type,return-value]
        ran.append(True)
    assert ran == [True]
    assert jobwatch.flush(10)
    assert any("formatter for 'job'" in r.getMessage() for r in caplog.records)


def test_generator_resumed_on_another_thread_keeps_its_watch(robot: FakeDingTalk) -> None:
    """A with-block in a generator that a thread pool resumes elsewhere still closes cleanly."""

    def rows() -> Iterator[int]:
        with watch("rows", notify="always"):
            yield 1
            yield 2

    gen = rows()
    assert next(gen) == 1
    results: list[object] = []
    thread = threading.Thread(target=lambda: results.append(list(gen)))
    thread.start()
    thread.join()
    assert results == [[2]]
    assert [t for t, _ in markdown(robot)] == ["程序执行情况: rows 成功"]


def test_shared_sync_watch_in_interleaved_tasks(robot: FakeDingTalk) -> None:
    """A sync with-block shared by tasks that interleave keeps each task's run apart."""
    seen: list[tuple[str, dict[str, str]]] = []
    shared = watch("shared", notify="always", formatter=capture(seen))

    async def task(n: int, go: asyncio.Event, other: asyncio.Event) -> None:
        with shared as run:
            run.note("task", n)
            other.set()
            await go.wait()
            if n == 1:
                raise JobError("task 1")

    async def main() -> list[BaseException | None]:
        first, second = asyncio.Event(), asyncio.Event()
        return await asyncio.gather(
            task(1, second, first), task(2, first, second), return_exceptions=True
        )

    results = asyncio.run(main())
    assert [type(r).__name__ for r in results] == ["JobError", "NoneType"]
    assert sorted((notes["task"], status) for status, notes in seen) == [
        ("1", "failure"), ("2", "success")
    ]
    assert jobwatch.flush(10)


def test_generator_closed_inside_watch_is_a_success(robot: FakeDingTalk) -> None:
    """GeneratorExit passing through watch() (the consumer stopped early) is no failure."""

    def rows() -> Iterator[int]:
        with watch("rows", notify="always", owners=["13800000000"]):
            yield from range(10)

    for row in rows():
        if row == 2:
            break
    (message,) = delivered(robot)
    assert message["markdown"]["title"] == "程序执行情况: rows 成功"
    assert "at" not in message


def test_cancelled_task_is_interrupted(robot: FakeDingTalk) -> None:
    """asyncio.CancelledError ends a watched coroutine as interrupted, not failed."""

    @monitor("slow")
    async def slow() -> None:
        await asyncio.sleep(3600)

    async def main() -> None:
        task = asyncio.ensure_future(slow())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert [t for t, _ in markdown(robot)] == ["程序执行情况: slow 被中断"]


def test_name_as_keyword(robot: FakeDingTalk) -> None:
    """@monitor(name="x") names the job like @monitor("x")."""

    @monitor(name="by-keyword")
    def job() -> None:
        raise JobError

    with pytest.raises(JobError):
        job()
    assert [t for t, _ in markdown(robot)] == ["程序执行情况: by-keyword 失败"]


def test_sync_decorator_around_async_def_is_seen_through(robot: FakeDingTalk) -> None:
    """A coroutine function behind a sync functools.wraps decorator is still awaited and watched."""
    import functools

    def passthrough(func: Any) -> Any:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return func(*args, **kwargs)

        return wrapper

    @monitor("wrapped-async")
    @passthrough
    async def job() -> None:
        await asyncio.sleep(0)
        raise JobError("late")

    with pytest.raises(JobError, match="late"):
        asyncio.run(job())
    assert [t for t, _ in markdown(robot)] == ["程序执行情况: wrapped-async 失败"]


def test_oversize_formatter_message_falls_back(
    robot: FakeDingTalk, caplog: pytest.LogCaptureFixture
) -> None:
    """A formatter's message over DingTalk's limit is replaced by the default report."""

    @monitor("job", formatter=lambda r: Text("x" * 30_000))
    def job() -> None:
        raise JobError

    with pytest.raises(JobError):
        job()
    assert [t for t, _ in markdown(robot)] == ["程序执行情况: job 失败"]
    assert any("over DingTalk's limit" in r.getMessage() for r in caplog.records)


def test_throttled_robot_is_left_alone() -> None:
    """After a throttled answer nothing more is posted during the penalty; reports are kept."""
    with FakeDingTalk() as robot:
        jobwatch.configure(webhook=robot.webhook)
        robot.fail_next(Fault(errcode=130101, errmsg="send too fast"))

        @monitor("job")
        def job() -> None:
            raise JobError

        for _ in range(3):
            with pytest.raises(JobError):
                job()
            jobwatch.flush(0.5)
        assert len(robot.requests) == 1
        assert delivery.get().outbox.counts() == {"pending": 3}


def test_flush_is_true_when_everything_arrived(robot: FakeDingTalk) -> None:
    """flush() says True once every report since the last flush was accepted."""

    @monitor("job")
    def job() -> None:
        raise JobError

    with pytest.raises(JobError):
        job()
    assert jobwatch.flush(10) is True
    assert len(robot.messages) == 1


def test_dry_run_without_stderr_prints_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With sys.stderr None (pythonw) the dry run is silent, not redirected to stdout."""
    monkeypatch.setattr(sys, "stderr", None)

    @monitor("job")
    def job() -> None:
        raise JobError

    with pytest.raises(JobError):
        job()
    monkeypatch.undo()
    assert capsys.readouterr() == ("", "")
