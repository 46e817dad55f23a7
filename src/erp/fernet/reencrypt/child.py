"""How a coordinator talks to its worker processes (``python -m erp.fernet.reencrypt.process``):
each job's spec goes as one JSON line on the worker's standard input, one JSON line per
chunk comes back, then ``{"done": true}`` (or ``{"error": ...}``) when the job is over.

Plain subprocesses rather than ``multiprocessing``: nothing depends on the caller's
``__main__`` being importable, the keys travel through a pipe (never argv or the
environment), and a worker whose coordinator died stops at its next progress line.
"""

from __future__ import annotations

import json
from dataclasses import asdict

from erp.fernet.reencrypt.jobs import ChunkResult, Job
from erp.fernet.reencrypt.targets import DatabaseRef, Target
from erp.fernet.reencrypt.worker import WorkerSpec

__all__ = ["decode_spec", "encode_result", "encode_spec"]


def encode_spec(spec: WorkerSpec) -> bytes:
    """The spec as one JSON line (it holds the keys: write it only to the worker's stdin)."""
    return json.dumps(asdict(spec)).encode() + b"\n"


def decode_spec(data: bytes) -> WorkerSpec:
    raw = json.loads(data)
    job = dict(raw["job"])
    job["target"] = Target(**job["target"])
    partition = raw["partition"]
    return WorkerSpec(
        db=DatabaseRef(**raw["db"]),
        job=Job(**job),
        keys=tuple(raw["keys"]),
        worker=raw["worker"],
        partition=(partition[0], partition[1]) if partition else None,
        pipeline=raw["pipeline"],
        parent_pid=raw["parent_pid"],
        claims=raw.get("claims"),
    )


def encode_result(result: ChunkResult) -> str:
    return json.dumps(asdict(result), default=str)
