"""How many rows one re-encryption transaction carries: sized by time, capped by memory.

A commit costs what the disk says (an ``fsync`` or several: four per transaction in SQLite's
rollback-journal mode), not what the row count says: on a busy disk a fixed 1,000-row batch
spent more time waiting for ``fdatasync`` than doing crypto. So a worker grows its
transaction until it carries about :attr:`BatchSizer.target_seconds` of crypto, and more
while commits are slow (a commit should cost at most ``commit_share`` of the crypto it
carries), never more than :attr:`BatchSizer.max_rows` (the rows of a batch are held in
memory twice: as read and as rewritten). When another writer had to wait for our lock (a
compare-and-swap miss, a blocked session, a long wait for the lock ourselves), it halves the
transaction and holds it there for a while, so the application's writes are not starved.

Only *how many planned ranges go into one transaction* changes: each range is still marked
done in the transaction that rewrites it, so resuming and compare-and-swap are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from erp._settings import read_float, read_int

__all__ = ["BatchSizer", "sizer_from_env"]

MAX_ROWS_VARIABLE = "ERP_FERNET_MAX_BATCH_ROWS"
TARGET_VARIABLE = "ERP_FERNET_TARGET_BATCH_SECONDS"


@dataclass
class BatchSizer:
    """Rows for the next transaction, from what the last ones cost (no clock inside)."""

    min_rows: int
    max_rows: int = 5_000
    target_seconds: float = 0.25
    commit_share: float = 0.1
    calm_transactions: int = 8
    rows: int = 0
    _calm: int = 0

    def __post_init__(self) -> None:
        self.min_rows = max(1, self.min_rows)
        self.max_rows = max(self.min_rows, self.max_rows)
        self.rows = min(max(self.rows or self.min_rows, self.min_rows), self.max_rows)

    def next_rows(self) -> int:
        """How many rows the next transaction should carry (at least one planned range)."""
        return self.rows

    def observe(
        self, rows: int, crypto_seconds: float, commit_seconds: float, *, contended: bool
    ) -> None:
        """Learn from one transaction: its rows, their crypto time, its commit, contention."""
        if contended:
            self.rows = max(self.min_rows, self.rows // 2)
            self._calm = self.calm_transactions
            return
        if rows <= 0 or crypto_seconds <= 0:
            return
        per_row = crypto_seconds / rows
        wanted_seconds = max(self.target_seconds, commit_seconds / self.commit_share)
        wanted = int(wanted_seconds / per_row)
        if self._calm > 0:  # after a shrink, do not grow straight back into the writer
            self._calm -= 1
            wanted = min(wanted, self.rows)
        # Grow at most twofold a step: one fast batch (a cache-warm range) proves little.
        self.rows = min(max(min(wanted, 2 * self.rows), self.min_rows), self.max_rows)


def sizer_from_env(min_rows: int) -> BatchSizer:
    """A sizer for ranges of ``min_rows``; limits from the environment (named, checked)."""
    max_rows = read_int(MAX_ROWS_VARIABLE, 5_000, minimum=1, maximum=10_000_000, unit="rows")
    target = read_float(TARGET_VARIABLE, 0.25, minimum=0.0, maximum=60.0, unit="seconds")
    return BatchSizer(min_rows=min_rows, max_rows=max_rows, target_seconds=target)
