"""The pytest plugin (entry point ``pytest11``): the ``fake_dingtalk`` fixture."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import config, delivery
from .testing import FakeDingTalk

# The settings the fixture takes over for the length of a test, and gives back after.
_TAKEN = ("webhook", "secret", "keyword", "outbox", "dry_run")


@pytest.fixture
def fake_dingtalk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeDingTalk]:
    """A started FakeDingTalk with a random token and signing secret, stopped afterwards.

    While the test runs, jobwatch itself reports to it, through an outbox of its own in a
    temporary directory: a test of a watched job can assert on the alert (after
    ``jobwatch.flush()``), and no test ever alerts a real group. A job's own ``webhook=``
    argument still wins.
    """
    outbox = Path(tmp_path_factory.mktemp("jobwatch")) / "outbox.sqlite3"
    with FakeDingTalk(secret="SEC" + secrets.token_hex(32)) as robot:
        saved = {name: config.configured(name) for name in _TAKEN}
        delivery.reset()
        config.configure(webhook=robot.webhook, secret=robot.secret, keyword=None,
                         outbox=str(outbox), dry_run=False)
        try:
            yield robot
        finally:
            delivery.reset()
            config.configure(**saved)  # None unsets what was not set before
