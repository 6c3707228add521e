"""The examples run as the README says, the way a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_quickstart_delivers_to_the_fake_robot() -> None:
    """examples/quickstart.py sends one signed message, accepted, without printing secrets."""
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py")],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert "DingTalk answered: errmsg='ok' after 1 attempt(s)" in done.stdout
    assert '"atMobiles": [\n      "13800000000"\n    ]' in done.stdout
    assert "SECexample-secret" not in done.stdout
    assert "sign=" not in done.stdout
