"""The fake_dingtalk fixture that installing jobwatch gives every pytest suite."""

from __future__ import annotations

import pytest

import jobwatch
from jobwatch import DingTalkSender, Text
from jobwatch.testing import FakeDingTalk, Fault

pytest_plugins = ["pytester"]


def test_readme_example_survives_a_busy_dingtalk(fake_dingtalk: FakeDingTalk) -> None:
    """The README's fixture example: two transient faults, then delivery, all recorded."""
    fake_dingtalk.fail_next(Fault(status=502), Fault(errcode=-1))
    with DingTalkSender(
        fake_dingtalk.webhook, secret=fake_dingtalk.secret, sleep=lambda s: None
    ) as sender:
        sender.send(Text("disk almost full"))
    assert fake_dingtalk.messages[-1]["text"]["content"] == "disk almost full"
    assert [r.errcode for r in fake_dingtalk.requests] == [None, -1, 0]


def test_fixture_is_started_and_signs(fake_dingtalk: FakeDingTalk) -> None:
    """The fixture's fake listens on 127.0.0.1 and requires a SEC... signature."""
    assert fake_dingtalk.webhook.startswith(f"http://127.0.0.1:{fake_dingtalk.port}/robot/send?")
    assert fake_dingtalk.secret is not None
    assert fake_dingtalk.secret.startswith("SEC")
    assert len(fake_dingtalk.token) == 64


@jobwatch.monitor("nightly-etl", owners=["13800000000"])
def nightly_etl(rows: list[str]) -> int:
    return sum(int(row) for row in rows)


def test_readme_example_a_failing_job_alerts_its_owner(fake_dingtalk: FakeDingTalk) -> None:
    """The README's job-testing example: while the fixture runs, jobwatch reports to it."""
    with pytest.raises(ValueError, match="five"):
        nightly_etl(["4", "five"])
    assert jobwatch.flush(5)
    [message] = fake_dingtalk.messages
    assert message["markdown"]["title"] == "程序执行情况: nightly-etl 失败"
    assert "ValueError: invalid literal for int() with base 10: 'five'" in message[
        "markdown"]["text"]
    assert message["at"]["atMobiles"] == ["13800000000"]


def test_fixture_gives_back_the_settings_it_took(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """configure() values in force before the fixture are in force again after it; the
    machine's JOBWATCH_* variables do not reach the test that uses it, and are back after
    (an inner pytest session, tests in file order)."""
    monkeypatch.setenv("JOBWATCH_KEYWORD", "env-keyword")
    monkeypatch.setenv("JOBWATCH_NOTIFY", "never")
    monkeypatch.setenv("JOBWATCH_WEBHOOK", "https://oapi.dingtalk.com/robot/send?access_token=env")
    pytester.makepyfile(
        """
        import os
        import jobwatch
        from jobwatch import config

        BEFORE = "https://oapi.dingtalk.com/robot/send?access_token=before"
        jobwatch.configure(webhook=BEFORE, keyword="告警", dry_run=True, outbox="off")

        @jobwatch.monitor("env-job")
        def job():
            raise ValueError("boom")

        def test_during(fake_dingtalk):
            settings = config.resolve()
            assert settings.webhook == fake_dingtalk.webhook
            assert settings.secret == fake_dingtalk.secret
            assert (settings.keyword, settings.notify, settings.dry_run) == (None, "failure", False)
            try:
                job()
            except ValueError:
                pass
            assert jobwatch.flush(5)
            assert len(fake_dingtalk.messages) == 1

        def test_after():
            assert config.configured("webhook") == BEFORE
            assert config.configured("keyword") == "告警"
            assert config.configured("dry_run") is True
            assert config.configured("outbox") == "off"
            assert config.configured("secret") is None
            assert os.environ["JOBWATCH_NOTIFY"] == "never"
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
