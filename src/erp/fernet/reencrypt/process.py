"""A worker process, started by the coordinator; see :mod:`erp.fernet.reencrypt.child`.

It is started before the coordinator's set-up checks and then runs one job per spec line
until its input ends; an input that ends before any spec (the set-up failed) is a quiet
exit. Where it can, the coordinator forks it (:func:`serve` on a pair of pipes), so it
starts with everything imported; otherwise it is ``python -m erp.fernet.reencrypt.process``
on standard input and output.
"""

from __future__ import annotations

import json
import sys
from typing import IO, Any

from erp.fernet.reencrypt.child import decode_spec, encode_result
from erp.fernet.reencrypt.jobs import ChunkResult
from erp.fernet.reencrypt.targets import primary_message
from erp.fernet.reencrypt.worker import run_worker

__all__ = ["main", "serve"]


def serve(specs: IO[bytes], out: IO[str]) -> int:
    """Run one job per spec line read from ``specs``, reporting on ``out``; the exit status."""

    def progress(result: ChunkResult) -> None:
        out.write(encode_result(result) + "\n")
        out.flush()

    spec = None
    try:
        for line in specs:
            if not line.strip():
                continue
            spec = decode_spec(line)
            run_worker(spec, progress)
            out.write(json.dumps({"done": True}) + "\n")
            out.flush()
    except BrokenPipeError:
        return 1  # the coordinator is gone
    except Exception as exc:
        # as the coordinator words its own: the primary message only, never row data
        text = primary_message(exc, spec.db if spec is not None else None)
        message: dict[str, Any] = {"error": f"{type(exc).__name__}: {text}"}
        out.write(json.dumps(message) + "\n")
        out.flush()
        return 1
    return 0


def main() -> int:
    return serve(sys.stdin.buffer, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
