"""The jobwatch command line, run the way a user runs it."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version


def test_version_via_python_dash_m() -> None:
    """python -m jobwatch --version prints the package version and exits 0."""
    done = subprocess.run(
        [sys.executable, "-m", "jobwatch", "--version"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    expected = (0, f"jobwatch {version('jobwatch')}\n", "")
    assert (done.returncode, done.stdout, done.stderr) == expected


def test_unknown_option_is_a_usage_error() -> None:
    """An unknown option exits 2 with a usage message on stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "jobwatch", "--bogus"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 2
    assert "unrecognized arguments: --bogus" in done.stderr
