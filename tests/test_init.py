"""The package's public surface: re-exports only, cheap to import."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version

import pytest

import jobwatch


def test_all_is_sorted() -> None:
    """__all__ is sorted, so additions are easy to review."""
    assert jobwatch.__all__ == sorted(jobwatch.__all__)


def test_all_matches_what_is_exported() -> None:
    """Every name in __all__ resolves, and the lazy export table holds nothing else."""
    namespace: dict[str, object] = {}
    exec("from jobwatch import *", namespace)  # noqa: S102 - the star import is the subject
    assert set(namespace) - {"__builtins__"} == set(jobwatch.__all__)
    assert set(jobwatch._HOME) | {"__version__"} == set(jobwatch.__all__)
    assert dir(jobwatch) == jobwatch.__all__


def test_contract_names_are_exported() -> None:
    """The names design.md fixes are all exported from the top level."""
    contract = {
        "ActionCard", "At", "ConfigError", "DingTalkError", "DingTalkSender", "FeedCard",
        "JobwatchError", "Link", "Markdown", "SendError", "Text",
    }
    assert contract <= set(jobwatch.__all__)


def test_version_comes_from_package_metadata() -> None:
    """__version__ is the installed distribution's version."""
    assert jobwatch.__version__ == version("jobwatch")


def test_unknown_attribute_raises_attribute_error() -> None:
    """A misspelt name fails like any module attribute."""
    with pytest.raises(AttributeError, match="has no attribute 'DingtalkSender'"):
        jobwatch.DingtalkSender  # type: ignore[attr-defined]  # noqa: B018


def test_import_loads_no_heavy_modules() -> None:
    """import jobwatch (and building a message) loads neither requests, tenacity nor sqlite3."""
    code = (
        "import sys, json, jobwatch; jobwatch.Text('hi'); "
        "print(json.dumps([m for m in ('requests', 'tenacity', 'sqlite3', 'asyncio', 'urllib3')"
        " if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert json.loads(out) == []
