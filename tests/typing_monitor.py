"""Type-checked by CI (mypy --strict), not run: @monitor keeps the decorated signatures.

Each ``type: ignore`` below must be needed: under --strict an unneeded one is an error, so if
@monitor ever erased a signature to ``Callable[..., Any]`` these lines would fail the check.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import jobwatch


@jobwatch.monitor
def bare(x: int, *, scale: float = 1.0) -> str:
    return str(x * scale)


@jobwatch.monitor("named", owners=["13800000000"], notify="always", timeout=60)
def named(x: int) -> list[int]:
    return [x]


@jobwatch.monitor
async def coroutine(x: int) -> int:
    return x


@jobwatch.monitor("gen")
def generator(n: int) -> Iterator[int]:
    yield from range(n)


@jobwatch.monitor
async def agen(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


def uses() -> None:
    text: str = bare(1, scale=2.0)
    values: list[int] = named(3)
    numbers: list[int] = list(generator(3))
    bare("one")  # type: ignore[arg-type]
    named(1, 2)  # type: ignore[call-arg]
    wrong: int = bare(1)  # type: ignore[assignment]
    del text, values, numbers, wrong


async def uses_async() -> None:
    value: int = await coroutine(1)
    items: list[int] = [i async for i in agen(2)]
    await coroutine("x")  # type: ignore[arg-type]
    del value, items


def uses_watch() -> None:
    with jobwatch.watch("block", owners="13800000000") as run:
        run.note("rows", 3)
        run.note(3, "x")  # type: ignore[arg-type]
