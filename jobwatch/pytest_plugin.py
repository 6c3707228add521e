"""The pytest plugin (entry point ``pytest11``): the ``fake_dingtalk`` fixture."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import config, delivery
from .testing import FakeDingTalk

# The settings the fixture takes over for the length of a test, and gives back after.
_TAKEN = ("webhook", "secret", "keyword", "outbox", "dry_run")


@pytest.fixture
def fake_dingtalk(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeDingTalk]:
    """A started FakeDingTalk with a random token and signing secret, stopped afterwards.

    While the test runs, jobwatch itself reports to it, through an outbox of its own in a
    temporary directory, with the machine's JOBWATCH_* variables out of the way: a test of a
    watched job can assert on the alert (after ``jobwatch.flush()``), and does not alert a
    real group. Settings a job passes itself (``webhook=``, ``notify=``...) and other
    ``configure()`` values still apply; a JOBWATCH_* variable that another fixture set with
    monkeypatch before this one is removed too (set it with configure() instead).
    """
    for name in [n for n in os.environ if n.startswith("JOBWATCH_")]:
        monkeypatch.delenv(name)
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
