"""jobwatch: watch batch jobs and tell a DingTalk group how they went.

This module only re-exports. Names are loaded on first use (PEP 562), so ``import jobwatch``
costs next to nothing and loads neither requests nor tenacity.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~10 ms)
if TYPE_CHECKING:
    from typing import Any

    from .config import configure
    from .delivery import flush, history
    from .errors import (
        ConfigError,
        DingTalkError,
        JobwatchError,
        MessageTooLarge,
        SendError,
        Throttled,
    )
    from .messages import ActionCard, At, Button, FeedCard, FeedLink, Link, Markdown, Message, Text
    from .monitor import Run, Watch, monitor, watch
    from .report import Report
    from .runs import RunRecord
    from .senders.dingtalk import DingTalkSender, SendResult

    __version__: str

__all__ = [
    "ActionCard",
    "At",
    "Button",
    "ConfigError",
    "DingTalkError",
    "DingTalkSender",
    "FeedCard",
    "FeedLink",
    "JobwatchError",
    "Link",
    "Markdown",
    "Message",
    "MessageTooLarge",
    "Report",
    "Run",
    "RunRecord",
    "SendError",
    "SendResult",
    "Text",
    "Throttled",
    "Watch",
    "__version__",
    "configure",
    "flush",
    "history",
    "monitor",
    "watch",
]

_ERRORS = ("ConfigError", "DingTalkError", "JobwatchError", "MessageTooLarge", "SendError")
_MESSAGES = ("ActionCard", "At", "Button", "FeedCard", "FeedLink", "Link", "Markdown", "Message")
_HOME: dict[str, str] = {
    **dict.fromkeys((*_ERRORS, "Throttled"), "jobwatch.errors"),
    **dict.fromkeys((*_MESSAGES, "Text"), "jobwatch.messages"),
    **dict.fromkeys(("DingTalkSender", "SendResult"), "jobwatch.senders.dingtalk"),
    **dict.fromkeys(("Run", "Watch", "monitor", "watch"), "jobwatch.monitor"),
    "Report": "jobwatch.report",
    "RunRecord": "jobwatch.runs",
    "history": "jobwatch.delivery",
    "configure": "jobwatch.config",
    "flush": "jobwatch.delivery",
}


# Hidden from type checkers, so that a misspelt name is an error there too.
if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        if name == "__version__":
            from importlib.metadata import version

            value: Any = version("jobwatch")
        elif name in _HOME:
            __import__(_HOME[name])  # importlib.import_module would import importlib too
            value = getattr(sys.modules[_HOME[name]], name)
        else:
            raise AttributeError(f"module 'jobwatch' has no attribute {name!r}")
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return list(__all__)
