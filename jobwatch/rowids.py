"""RowIds: the outbox rows a process waits for, kept in 8 bytes each.

A job that keeps failing faster than DingTalk's budget lets reports out builds a backlog: the
reports wait in the outbox file, and the process remembers only their row ids. As a set of
ints that cost ~70 bytes a report (7 MB for 100,000); here it is a sorted array of 64-bit
integers (0.8 MB). Rows are mostly added in increasing order (SQLite's rowids), so adding
is usually an append; ``after()`` lets the worker look at them a slice at a time.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable

__all__ = ["RowIds"]


class RowIds:
    """A set of row ids, sorted, compact. Not thread-safe: the caller holds its lock."""

    __slots__ = ("_ids",)

    def __init__(self, ids: Iterable[int] = ()) -> None:
        self._ids = array("q", sorted(set(ids)))

    def add(self, row: int) -> None:
        ids = self._ids
        if not ids or row > ids[-1]:
            ids.append(row)
        elif row not in self:
            insort(ids, row)

    def update(self, rows: Iterable[int]) -> None:
        """Add many rows: one merge, not an insertion each."""
        self._ids = array("q", sorted(set(self._ids).union(rows)))

    def discard(self, rows: Iterable[int]) -> None:
        """Remove ``rows`` (those present); one pass over the array."""
        gone = {r for r in rows if r in self}
        if gone:
            self._ids = array("q", (r for r in self._ids if r not in gone))

    def after(self, row: int, count: int) -> list[int]:
        """Up to ``count`` rows greater than ``row``, smallest first."""
        start = bisect_right(self._ids, row)
        return self._ids[start : start + count].tolist()

    def clear(self) -> None:
        self._ids = array("q")

    def __contains__(self, row: object) -> bool:
        if not isinstance(row, int):
            return False
        i = bisect_left(self._ids, row)
        return i < len(self._ids) and self._ids[i] == row

    def __len__(self) -> int:
        return len(self._ids)

    def __bool__(self) -> bool:
        return bool(self._ids)

    def __repr__(self) -> str:
        return f"RowIds({len(self._ids)} rows)"
