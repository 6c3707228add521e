"""Shared fixtures: a clean jobwatch configuration for every test, and a configured robot."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

import jobwatch
from jobwatch import config, delivery
from jobwatch.testing import FakeDingTalk


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No JOBWATCH_* variable, configure() value or one-time notice leaks between tests."""
    for name in list(os.environ):
        if name.startswith("JOBWATCH_"):
            monkeypatch.delenv(name)
    config._configured.clear()
    config._warned.clear()
    monkeypatch.setattr(delivery, "_noticed", False)
    yield
    config._configured.clear()


@pytest.fixture
def robot() -> Iterator[FakeDingTalk]:
    """A FakeDingTalk that jobwatch is configured to report to; drained after the test."""
    with FakeDingTalk(secret="SECrobot-secret-for-tests") as fake:
        jobwatch.configure(webhook=fake.webhook, secret=fake.secret)
        yield fake
        assert jobwatch.flush(10)
