"""Per-call cost of @jobwatch.monitor on the success path, against a minimal wrapper.

    python benchmarks/success_path.py

The minimal wrapper is what any monitor must at least do: functools.wraps, try/except and one
perf_counter() read. Target (the @monitor issue): @monitor at most 2x its cost, with the
default notify="failure". Medians of interleaved timeit repeats.
"""

from __future__ import annotations

import functools
import os
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
os.environ.pop("JOBWATCH_NOTIFY", None)

import jobwatch


def minimal(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return func(*args, **kwargs)
        except BaseException:
            print("failed after", time.perf_counter() - started)
            raise

    return wrapper


def job(x: int) -> int:
    return x + 1


CANDIDATES = {
    "bare function": job,
    "minimal wrapper": minimal(job),
    "@jobwatch.monitor": jobwatch.monitor(job),
    "@jobwatch.monitor(name, owners)": jobwatch.monitor("job", owners=["13800000000"])(job),
}


def main() -> None:
    number, rounds = 200_000, 15
    samples: dict[str, list[float]] = {name: [] for name in CANDIDATES}
    for _ in range(rounds):
        for name, func in CANDIDATES.items():
            seconds = timeit.timeit(lambda f=func: f(1), number=number)  # type: ignore[misc]
            samples[name].append(seconds / number * 1e9)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    floor = medians["minimal wrapper"]
    print(f"python {sys.version.split()[0]}, {number:,} calls x {rounds} interleaved rounds")
    print(f"{'candidate':34} {'ns/call':>9} {'vs minimal':>11} {'spread':>8}")
    for name, value in medians.items():
        spread = statistics.pstdev(samples[name]) / value * 100
        print(f"{name:34} {value:9.1f} {value / floor:10.2f}x {spread:7.1f}%")


if __name__ == "__main__":
    main()
