"""The Fernet specification's test vectors, as data.

Source: github.com/fernet/spec, files generate.json, verify.json and invalid.json (the
repository's current main branch), copied field for field; only the shared key is named
once. ``now`` is the moment each vector is judged at; ``ttl_sec`` its maximum age.
"""

# ruff: noqa: E501 - the vectors are copied whole, one token a line

from __future__ import annotations

import base64
from typing import Any

# The spec's key, as its two 128-bit halves (signing key, then encryption key), made into the
# url-safe base64 Fernet key at run time.
SPEC_SECRET = base64.urlsafe_b64encode(
    bytes.fromhex("730ff4c7af3d46923e8ed451ee813c87" + "f790b0a226bc96a92de49b5e9c05e1ee")
).decode()

GENERATE: list[dict[str, Any]] = [
    {
        "token": "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA==",
        "now": "1985-10-26T01:20:00-07:00",
        "iv": list(range(16)),
        "src": "hello",
        "secret": SPEC_SECRET,
    }
]

VERIFY: list[dict[str, Any]] = [
    {
        "token": "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA==",
        "now": "1985-10-26T01:20:01-07:00",
        "ttl_sec": 60,
        "src": "hello",
        "secret": SPEC_SECRET,
    }
]

INVALID: list[dict[str, Any]] = [
    {
        "desc": "incorrect mac",
        "token": "gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPAl1-szkFVzXTuGb4hR8AKtwcaX1YdykQUFBQUFBQUFBQQ==",
        "now": "1985-10-26T01:20:01-07:00",
        "ttl_sec": 60,
        "secret": SPEC_SECRET,
    },
    {
        "desc": "too short",
        "token": "gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPA==",
        "now": "1985-10-26T01:20:01-07:00",
        "ttl_sec": 60,
        "secret": SPEC_SECRET,
    },
    {
        "desc": "invalid base64",
        "token": "%%%%%%%%%%%%%AECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPAl1-szkFVzXTuGb4hR8AKtwcaX1YdykRtfsH-p1YsUD2Q==",
        "now": "1985-10-26T01:20:01-07:00",
        "ttl_sec": 60,
        "secret": SPEC_SECRET,
    },
    {
        "desc": "payload size not multiple of block size",
        "token": "gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPOm73QeoCk9uGib28Xe5vz6oxq5nmxbx_v7mrfyudzUm",
        "now": "1985-10-26T01:20:01-07:00",
        "ttl_sec": 60,
        "secret": SPEC_SECRET,
    },
    {
        "desc": "payload padding error",
        "token": "gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0ODz4LEpdELGQAad7aNEHbf-JkLPIpuiYRLQ3RtXatOYREu2FWke6CnJNYIbkuKNqOhw==",
        "now": "1985-10-26T01:20:01-07:00",
        "ttl_sec": 60,
        "secret": SPEC_SECRET,
    },
    {
        "desc": "far-future TS (unacceptable clock skew)",
        "token": "gAAAAAAdwStRAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPAnja1xKYyhd-Y6mSkTOyTGJmw2Xc2a6kBd-iX9b_qXQcw==",
        "now": "1985-10-26T01:20:01-07:00",
        "ttl_sec": 60,
        "secret": SPEC_SECRET,
    },
    {
        "desc": "expired TTL",
        "token": "gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPAl1-szkFVzXTuGb4hR8AKtwcaX1YdykRtfsH-p1YsUD2Q==",
        "now": "1985-10-26T01:21:31-07:00",
        "ttl_sec": 60,
        "secret": SPEC_SECRET,
    },
    {
        "desc": "incorrect IV (causes padding error)",
        "token": "gAAAAAAdwJ6xBQECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPAkLhFLHpGtDBRLRTZeUfWgHSv49TF2AUEZ1TIvcZjK1zQ==",
        "now": "1985-10-26T01:20:01-07:00",
        "ttl_sec": 60,
        "secret": SPEC_SECRET,
    },
]
