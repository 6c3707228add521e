"""RowIds: the compact sorted set of outbox rows a process waits for."""

from __future__ import annotations

from jobwatch.rowids import RowIds


def test_adds_in_any_order_keep_one_sorted_copy() -> None:
    ids = RowIds([5, 3])
    for row in (7, 1, 5, 4, 7):
        ids.add(row)
    assert ids.after(0, 10) == [1, 3, 4, 5, 7]
    assert len(ids) == 5


def test_membership() -> None:
    ids = RowIds([2, 4, 6])
    assert [r in ids for r in (1, 2, 3, 4, 6, 7)] == [False, True, False, True, True, False]
    assert "2" not in ids


def test_discard_removes_present_rows_only() -> None:
    ids = RowIds(range(10))
    ids.discard([0, 5, 9, 42])
    assert ids.after(-1, 100) == [1, 2, 3, 4, 6, 7, 8]


def test_after_is_a_slice_of_the_larger_rows() -> None:
    ids = RowIds([30, 10, 20, 40])
    assert ids.after(0, 2) == [10, 20]
    assert ids.after(10, 2) == [20, 30]
    assert ids.after(15, 10) == [20, 30, 40]
    assert ids.after(40, 5) == []
    assert ids.after(0, 0) == []


def test_update_merges_many_rows() -> None:
    ids = RowIds([5, 1])
    ids.update([3, 5, 9, 2])
    assert ids.after(0, 10) == [1, 2, 3, 5, 9]


def test_update_clear_and_truth() -> None:
    ids = RowIds()
    assert not ids
    ids.update([3, 1, 3])
    assert bool(ids)
    assert ids.after(0, 5) == [1, 3]
    assert repr(ids) == "RowIds(2 rows)"
    ids.clear()
    assert len(ids) == 0
    assert not ids


def test_eight_bytes_a_row() -> None:
    """The point of the class: 100,000 rows take 800,000 bytes of array, not a set of ints."""
    ids = RowIds()
    for row in range(100_000):
        ids.add(row)
    assert ids._ids.itemsize * len(ids._ids) == 800_000
