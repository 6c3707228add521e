"""Send a signed failure report to a local fake DingTalk robot and show what it received.

Runs offline: FakeDingTalk checks the request the way DingTalk does (token, signature,
keyword, schema, size, rate limit). To send to a real group, give DingTalkSender your robot's
webhook URL and secret instead.

    python examples/quickstart.py
"""

from __future__ import annotations

import json
import socket
import sys

from jobwatch import At, DingTalkSender, Markdown
from jobwatch.testing import FakeDingTalk

report = Markdown(
    "程序执行情况: nightly-etl 失败",
    "\n\n".join(
        [
            "### nightly-etl 失败",
            "**执行情况:** 失败",
            f"**服务器:** {socket.gethostname()} ({sys.platform})",
            "**异常信息:** ValueError: bad row 42",
            "> Traceback (most recent call last):  \n"
            '>   File "etl.py", line 10, in load  \n'
            "> ValueError: bad row 42",
        ]
    ),
    at=At(mobiles=["13800000000"]),
)

with (
    FakeDingTalk(secret="SECexample-secret", keywords=["告警"]) as robot,
    DingTalkSender(robot.webhook, secret=robot.secret, keyword="告警") as sender,
):
    result = sender.send(report)
    print(f"sent to {sender!r}")
    print(f"DingTalk answered: errmsg={result.errmsg!r} after {result.attempts} attempt(s)")
    print("the robot received:")
    print(json.dumps(robot.messages[0], ensure_ascii=False, indent=2))
