"""The fake_dingtalk fixture that installing jobwatch gives every pytest suite."""

from __future__ import annotations

from jobwatch import DingTalkSender, Text
from jobwatch.testing import FakeDingTalk, Fault


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
