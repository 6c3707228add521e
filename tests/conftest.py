"""Shared fixtures: a clean jobwatch for every test (settings, outbox, history), and a robot."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import jobwatch
from jobwatch import config, delivery, runs
from jobwatch.testing import FakeDingTalk


@pytest.fixture(autouse=True)
def clean_jobwatch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No JOBWATCH_* variable, configure() value, notice, outbox or history leaks between
    tests; each test's outbox is the default one under its own $XDG_STATE_HOME."""
    for name in list(os.environ):
        if name.startswith("JOBWATCH_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # the default outbox path
    config._configured.clear()
    config._warned.clear()
    monkeypatch.setattr(delivery, "_noticed", False)
    delivery.reset()
    runs._LAST.clear()
    runs._SUCCESSES.clear()
    yield
    delivery.reset()
    config._configured.clear()


@pytest.fixture
def robot() -> Iterator[FakeDingTalk]:
    """A FakeDingTalk that jobwatch is configured to report to; drained after the test."""
    with FakeDingTalk(secret="SECrobot-secret-for-tests") as fake:
        jobwatch.configure(webhook=fake.webhook, secret=fake.secret)
        yield fake
        assert jobwatch.flush(10)
