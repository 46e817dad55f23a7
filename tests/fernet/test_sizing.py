"""Transactions sized by time: grow to ~250 ms of crypto, stay under the memory cap, back off."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from erp.errors import SettingError
from erp.fernet.reencrypt.sizing import BatchSizer, sizer_from_env

PER_ROW = 60e-6  # seconds of crypto a row, as on the benchmark host


def _run(sizer: BatchSizer, commit_seconds: float, steps: int) -> int:
    for _ in range(steps):
        rows = sizer.next_rows()
        sizer.observe(rows, rows * PER_ROW, commit_seconds, contended=False)
    return sizer.next_rows()


def test_grows_until_a_commit_carries_a_quarter_second_of_crypto() -> None:
    """From one planned range, the batch doubles up to about 0.25 s of crypto."""
    sizer = BatchSizer(min_rows=1000)
    assert sizer.next_rows() == 1000
    assert _run(sizer, commit_seconds=0.005, steps=10) == int(0.25 / PER_ROW)


def test_slow_commits_grow_the_batch_up_to_the_memory_cap() -> None:
    """A commit of 0.5 s (a busy disk) asks for 5 s of crypto, but never past max_rows."""
    sizer = BatchSizer(min_rows=1000, max_rows=20_000)
    assert _run(sizer, commit_seconds=0.5, steps=10) == 20_000


def test_contention_halves_and_holds_before_growing_again() -> None:
    """A waiting writer halves the batch; it stays there for the calm period, then grows."""
    sizer = BatchSizer(min_rows=1000, calm_transactions=3)
    _run(sizer, 0.005, 10)
    before = sizer.next_rows()
    sizer.observe(before, before * PER_ROW, 0.005, contended=True)
    assert sizer.next_rows() == before // 2
    assert _run(sizer, 0.005, 3) == before // 2
    assert _run(sizer, 0.005, 2) == before


def test_never_below_one_planned_range() -> None:
    """However often it is told to back off, a batch holds at least one range."""
    sizer = BatchSizer(min_rows=1000)
    for _ in range(20):
        sizer.observe(1000, 0.06, 0.0, contended=True)
    assert sizer.next_rows() == 1000


def test_limits_come_from_checked_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """ERP_FERNET_MAX_BATCH_ROWS sets the cap; NaN is refused naming the variable."""
    monkeypatch.setenv("ERP_FERNET_MAX_BATCH_ROWS", "5000")
    assert sizer_from_env(1000).max_rows == 5000
    monkeypatch.setenv("ERP_FERNET_TARGET_BATCH_SECONDS", "nan")
    with pytest.raises(SettingError, match="ERP_FERNET_TARGET_BATCH_SECONDS"):
        sizer_from_env(1000)


@given(
    events=st.lists(
        st.tuples(
            st.floats(min_value=1e-7, max_value=1e-2),
            st.floats(min_value=0.0, max_value=10.0),
            st.booleans(),
        ),
        max_size=40,
    )
)
def test_rows_stay_between_one_range_and_the_cap(
    events: list[tuple[float, float, bool]],
) -> None:
    """Whatever the crypto and commit times, a batch holds one range to max_rows rows."""
    sizer = BatchSizer(min_rows=500, max_rows=7_000)
    for per_row, commit, contended in events:
        rows = sizer.next_rows()
        assert 500 <= rows <= 7_000
        sizer.observe(rows, rows * per_row, commit, contended=contended)
    assert 500 <= sizer.next_rows() <= 7_000
