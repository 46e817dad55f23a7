"""A worker process, started by the coordinator; see :mod:`erp.fernet.reencrypt.child`.

It is started before the coordinator's set-up checks (so that its imports overlap them) and
then runs one job per spec line until its standard input ends; an input that ends before
any spec (the set-up failed) is a quiet exit.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from erp.fernet.reencrypt.child import decode_spec, encode_result
from erp.fernet.reencrypt.jobs import ChunkResult
from erp.fernet.reencrypt.worker import run_worker

__all__ = ["main"]


def main() -> int:
    out = sys.stdout

    def progress(result: ChunkResult) -> None:
        out.write(encode_result(result) + "\n")
        out.flush()

    try:
        for line in sys.stdin.buffer:
            if not line.strip():
                continue
            run_worker(decode_spec(line), progress)
            out.write(json.dumps({"done": True}) + "\n")
            out.flush()
    except BrokenPipeError:
        return 1  # the coordinator is gone
    except Exception as exc:
        message: dict[str, Any] = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(message) + "\n")
        out.flush()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
