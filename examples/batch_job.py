"""A nightly batch function under @jobwatch.monitor.

    python examples/batch_job.py

It fails on purpose. With no webhook configured, jobwatch runs dry: it prints the report it
would send to DingTalk on stderr, and the job fails exactly as it would without jobwatch.
Set JOBWATCH_WEBHOOK (and JOBWATCH_SECRET) to send the report to your group instead.
"""

from __future__ import annotations

import jobwatch


@jobwatch.monitor("nightly-etl", owners=["13800000000"])
def load(rows: list[str]) -> int:
    loaded = 0
    for number, row in enumerate(rows, 1):
        if not row.isdigit():
            raise ValueError(f"row {number} is not a number: {row!r}")
        loaded += 1
    return loaded


if __name__ == "__main__":
    print("loaded", load(["1", "2", "3"]), "rows")
    load(["4", "five", "6"])
