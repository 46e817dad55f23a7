"""A worker process, started by the coordinator; see :mod:`erp.fernet.reencrypt.child`."""

from __future__ import annotations

import json
import sys
from typing import Any

from erp.fernet.reencrypt.child import decode_spec, encode_result
from erp.fernet.reencrypt.jobs import ChunkResult
from erp.fernet.reencrypt.worker import run_worker

__all__ = ["main"]


def main() -> int:
    spec = decode_spec(sys.stdin.buffer.read())
    out = sys.stdout

    def progress(result: ChunkResult) -> None:
        out.write(encode_result(result) + "\n")
        out.flush()

    try:
        run_worker(spec, progress)
    except BrokenPipeError:
        return 1  # the coordinator is gone
    except Exception as exc:
        message: dict[str, Any] = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(message) + "\n")
        out.flush()
        return 1
    out.write(json.dumps({"done": True}) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
