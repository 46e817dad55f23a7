"""The checkpoint tables a re-encryption keeps in the database it rewrites.

``erp_fernet_jobs`` has one row per pass over a column towards one primary key;
``erp_fernet_batches`` splits the pass into primary-key ranges ``[lo, hi)`` (``NULL`` =
unbounded) that are marked ``done`` in the same transaction that rewrites their rows, so a
killed run resumes exactly where it stopped; ``erp_fernet_unreadable`` names the rows no
key opened. Bounds and primary keys are stored as JSON text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from erp.fernet.reencrypt.targets import Target

__all__ = [
    "BATCHES",
    "JOBS",
    "UNREADABLE",
    "ChunkResult",
    "Job",
    "JobTotals",
    "PassOverview",
    "Range",
    "dump_pk",
    "load_pk",
    "passes_overview",
    "plan_ranges",
    "quote",
    "quote_table",
]

JOBS = "erp_fernet_jobs"
BATCHES = "erp_fernet_batches"
UNREADABLE = "erp_fernet_unreadable"


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def quote_table(table: str) -> str:
    schema, dot, name = table.rpartition(".")
    return f"{quote(schema)}.{quote(name)}" if dot else quote(name)


def dump_pk(value: Any) -> str:
    return json.dumps(value if isinstance(value, (int, str)) else str(value))


def load_pk(text: str | None) -> Any:
    return None if text is None else json.loads(text)


@dataclass(frozen=True)
class Range:
    """One batch of a pass: rows with ``lo <= pk < hi`` (``None`` = unbounded)."""

    seq: int
    lo: Any
    hi: Any
    planned_rows: int


@dataclass(frozen=True)
class Job:
    """A pass over one column towards the primary key ``target_fingerprint``."""

    job_id: str
    target: Target
    target_fingerprint: str
    pass_no: int
    batch_size: int
    resumed: bool
    batches: int
    pending_batches: int
    pending_rows: int
    planned_rows: int


@dataclass
class ChunkResult:
    """What rewriting one chunk of rows did."""

    rows: int = 0
    rotated: int = 0
    current: int = 0
    nulls: int = 0
    retried: int = 0
    unreadable: list[Any] = field(default_factory=list)

    def add(self, other: ChunkResult) -> None:
        self.rows += other.rows
        self.rotated += other.rotated
        self.current += other.current
        self.nulls += other.nulls
        self.retried += other.retried
        self.unreadable.extend(other.unreadable)


@dataclass
class JobTotals:
    """A whole pass, from the checkpoint table (every run that worked on it)."""

    done_batches: int = 0
    pending_batches: int = 0
    rows: int = 0
    rotated: int = 0
    current: int = 0
    nulls: int = 0
    retried: int = 0
    unreadable_total: int = 0
    unreadable: list[Any] = field(default_factory=list)
    finished: bool = False


def plan_ranges(boundaries: list[Any], total: int, batch_size: int) -> list[Range]:
    """Ranges from the primary keys that start each batch (every ``batch_size``-th key).

    The first range is open below and the last open above, so rows inserted outside the
    planned span during the run are still covered.
    """
    if not boundaries:
        return [Range(0, None, None, 0)]
    out = []
    for i, start in enumerate(boundaries):
        lo = None if i == 0 else start
        hi = boundaries[i + 1] if i + 1 < len(boundaries) else None
        planned = batch_size if hi is not None else total - batch_size * i
        out.append(Range(i, lo, hi, planned))
    return out


@dataclass(frozen=True)
class PassOverview:
    """One pass recorded in a database, as ``fernet status --db`` shows it."""

    pass_id: str
    state: str
    target: str
    batches: int
    rows: int
    started: str
    finished: str | None
    batches_done: int

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` form (the keys it has always had)."""
        return {
            "pass": self.pass_id,
            "state": self.state,
            "target": self.target,
            "batches": self.batches,
            "rows": self.rows,
            "started": self.started,
            "finished": self.finished,
            "batches_done": self.batches_done,
        }


def passes_overview(conn: Any, placeholder: str = "?") -> list[PassOverview]:
    """Every pass recorded in a database (newest first), with its batch counts; [] if none."""
    try:
        cur = conn.cursor()
        cur.execute(
            f"SELECT j.job_id, j.state, j.target, j.batches, j.planned_rows, j.created_at, "  # noqa: S608
            f"j.finished_at, (SELECT COUNT(*) FROM {BATCHES} b WHERE b.job_id = j.job_id "
            f"AND b.state = 'done') FROM {JOBS} j ORDER BY j.created_at DESC"
        )
        rows = cur.fetchall()
    except Exception:  # no checkpoint table yet: nothing was ever re-encrypted here
        conn.rollback()
        return []
    conn.rollback()
    return [
        PassOverview(str(j), str(st), str(t), int(b), int(n), str(c), f, int(d))
        for j, st, t, b, n, c, f, d in rows
    ]
