"""Per-call cost of @jobwatch.monitor on the success path, against a minimal wrapper.

    python benchmarks/success_path.py [--number 200000] [--rounds 15]

The minimal wrapper is what any monitor must at least do: functools.wraps, try/except and one
perf_counter() read. Target (the @monitor issue): @monitor at most 2x its cost, with the
default notify="failure". Medians of interleaved timeit repeats.
"""

from __future__ import annotations

import argparse
import functools
import time
import timeit
from collections.abc import Callable
from typing import Any

import _bench

_bench.isolate()

import jobwatch  # noqa: E402


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


def timer(func: Callable[[int], int], number: int) -> Callable[[], float]:
    def run() -> float:
        return timeit.timeit(lambda: func(1), number=number) / number

    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--number", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    number, rounds = args.number, args.rounds
    print(_bench.machine())
    samples = _bench.interleave({n: timer(f, number) for n, f in CANDIDATES.items()}, rounds)
    print(f"{number:,} calls x {rounds} interleaved rounds; median nanoseconds per call")
    medians = _bench.table(samples, "minimal wrapper", "ns/call", 1e9, "minimal")
    print(f"@jobwatch.monitor / minimal wrapper ="
          f" {medians['@jobwatch.monitor'] / medians['minimal wrapper']:.2f}x (target <= 2x)")


if __name__ == "__main__":
    main()
