"""The pytest plugin (entry point ``pytest11``): the ``fake_dingtalk`` fixture."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from .testing import FakeDingTalk


@pytest.fixture
def fake_dingtalk() -> Iterator[FakeDingTalk]:
    """A started FakeDingTalk with a random token and signing secret, stopped afterwards."""
    with FakeDingTalk(secret="SEC" + secrets.token_hex(32)) as robot:
        yield robot
