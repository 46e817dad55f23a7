"""A strict layer in front of an AWS emulator: Secrets Manager's rules that moto does not keep.

Tests and rehearsals talk to :class:`StrictSecretsManager` (an HTTP proxy on 127.0.0.1)
instead of the emulator. Everything is forwarded unchanged except these Secrets Manager
calls, where the layer does what AWS does:

* **Immutable versions.** ``PutSecretValue`` with a ``ClientRequestToken`` that names an
  existing version is a no-op for the same value and ``ResourceExistsException`` for another
  (moto overwrites silently).
* **Empty pending versions.** A rotation starts with an ``AWSPENDING`` version that has no
  value (moto cannot store one). The layer keeps it empty: ``GetSecretValue`` on it is
  ``ResourceNotFoundException``, and the first value stored under its token is accepted. It
  is created by ``RotateSecret`` or, for the local driver that plays the service, by a
  ``PutSecretValue`` with a token, ``VersionStages=["AWSPENDING"]`` and no value.
* **One rotation at a time.** Starting a rotation while ``AWSPENDING`` is on a version other
  than ``AWSCURRENT`` is ``InvalidRequestException`` ("A previous rotation isn't complete"),
  checked and claimed atomically (moto's check is inverted).
* **Manual writes abandon a rotation.** A new ``AWSCURRENT`` version written while a rotation
  is in progress removes ``AWSPENDING`` from the rotation's version, as the service does
  (recorded as ``RotationAbandoned``).
* **RotateSecret.** Runs the registered rotation function (``register_lambda``) the way the
  service does (:class:`erp.aws.driver.LocalRotationDriver`): stop at the first failing step,
  retry the whole rotation, clean ``AWSPENDING`` up only after success. With
  ``RotateImmediately=false`` only ``testSecret`` runs, on a temporary empty (or, with
  ``test_copy``, copied) ``AWSPENDING`` version that is removed afterwards. Rotation settings
  (``RotationEnabled``, the function, the rules, ``LastRotatedDate``) are kept here and shown
  by ``DescribeSecret`` (moto clears or ignores them).
* **Stage-less reads.** ``GetSecretValue`` with neither ``VersionId`` nor ``VersionStage``
  reads ``AWSCURRENT`` (moto answers with a stale version after a label move).

``strict=False`` turns the layer into a plain relay, which is how the tests show that each
rule above is a real divergence of the emulator.
"""

from __future__ import annotations

import http.client
import json
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from erp.aws.client import CURRENT, PENDING

__all__ = ["StrictSecretsManager"]

Invoke = Callable[[Mapping[str, Any]], object]

_EMPTY = "\x00erp-strict-layer: this version has no value\x00"
"""What the emulator stores for an empty version; never returned to a client."""
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


@dataclass
class _Rotation:
    """The rotation settings Secrets Manager keeps for one secret."""

    enabled: bool = False
    function_arn: str | None = None
    rules: Mapping[str, Any] = field(default_factory=dict)
    last_rotated: datetime | None = None


class _Refusal(Exception):
    """An AWS error response the layer sends instead of forwarding."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class StrictSecretsManager:
    """The proxy (see the module docstring); a context manager that starts and stops it."""

    def __init__(
        self,
        upstream: str,
        *,
        region: str = "us-east-1",
        strict: bool = True,
        rotation_attempts: int = 3,
        test_copy: bool = False,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        parts = urlsplit(upstream)
        self.upstream = upstream
        self._target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.region = region
        self.strict = strict
        self.rotation_attempts = rotation_attempts
        self.test_copy = test_copy
        self.clock = clock
        self.events: list[dict[str, Any]] = []
        """Rotation events in the order the service would emit them (name, secret, token)."""
        self._lambdas: dict[str, Invoke] = {}
        self._lock = threading.RLock()
        self._local = threading.local()
        self._empty: set[tuple[str, str]] = set()
        self._rotations: dict[str, _Rotation] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._upstream_client: Any = None
        self._own_client: Any = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` of the running layer."""
        if self._server is None:
            raise RuntimeError("the strict layer is not running; call start()")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self, port: int = 0) -> StrictSecretsManager:
        """Listen on 127.0.0.1 (a free port unless given) in a background thread."""
        layer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out in two writes: without TCP_NODELAY, Nagle and the
            # client's delayed ACK add 40 ms to every answer
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def _any(self) -> None:
                layer._handle(self)

            do_POST = do_GET = do_PUT = do_DELETE = do_HEAD = _any

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> StrictSecretsManager:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget empty versions, rotation settings and events (after the emulator's reset)."""
        with self._lock:
            self._empty.clear()
            self._rotations.clear()
            self.events.clear()

    def register_lambda(self, function_arn: str, invoke: Invoke) -> None:
        """What ``RotateSecret`` runs for ``function_arn``: ``invoke(event)``, raising on error."""
        self._lambdas[function_arn] = invoke

    # -- plumbing --------------------------------------------------------------------------

    def _boto(self, url: str) -> Any:
        # Not erp.aws.client: the layer plays the service, talks only to 127.0.0.1 and must
        # work without the user's AWS credentials, so it carries fixed emulator ones.
        import boto3

        return boto3.client(
            "secretsmanager",
            region_name=self.region,
            endpoint_url=url,
            aws_access_key_id="strict-layer",
            aws_secret_access_key="strict-layer",  # noqa: S106  # pragma: allowlist secret
        )

    @property
    def _up(self) -> Any:
        if self._upstream_client is None:
            self._upstream_client = self._boto(self.upstream)
        return self._upstream_client

    @property
    def _self(self) -> Any:
        if self._own_client is None:
            self._own_client = self._boto(self.url)
        return self._own_client

    def _connection(self, fresh: bool = False) -> http.client.HTTPConnection:
        """This thread's kept-alive connection to the emulator (one TCP set-up per client)."""
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None or fresh:
            if connection is not None:
                connection.close()
            connection = http.client.HTTPConnection(*self._target, timeout=60)
            self._local.connection = connection
        return connection

    def _forward(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        sent = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
        sent["Content-Length"] = str(len(body))
        for attempt in (1, 2):
            connection = self._connection(fresh=attempt == 2)
            try:
                connection.request(method, path, body=body, headers=sent)
                response = connection.getresponse()
                data = response.read()
            except (http.client.HTTPException, OSError):
                if attempt == 2:
                    raise
                continue  # the emulator closed a kept-alive connection: once more, fresh
            kept = [
                (k, v)
                for k, v in response.getheaders()
                if k.lower() not in _HOP_BY_HOP and k.lower() != "content-length"
            ]
            return response.status, kept, data
        raise AssertionError("unreachable")

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        headers = dict(request.headers.items())
        target = headers.get("X-Amz-Target") or headers.get("x-amz-target") or ""
        operation = target.split(".", 1)[1] if target.startswith("secretsmanager.") else ""
        rule = getattr(self, f"_on_{operation}", None) if self.strict and operation else None
        try:
            if rule is None:
                status, out_headers, data = self._forward(
                    request.command, request.path, headers, body
                )
            else:
                status, out_headers, data = rule(request.command, request.path, headers, body)
        except _Refusal as refusal:
            status, out_headers = 400, [("Content-Type", "application/x-amz-json-1.1")]
            data = json.dumps({"__type": refusal.code, "message": refusal.message}).encode()
        except Exception as exc:  # a bug here must reach the test as an answer, not a hang-up
            status, out_headers = 500, [("Content-Type", "application/x-amz-json-1.1")]
            message = f"strict layer: {type(exc).__name__}: {exc}"
            data = json.dumps({"__type": "InternalFailure", "message": message}).encode()
        request.send_response(status)
        for name, value in out_headers:
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(data)

    @staticmethod
    def _json(payload: Mapping[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        data = json.dumps(payload, default=_epoch).encode()
        return 200, [("Content-Type", "application/x-amz-json-1.1")], data

    def _describe(self, secret_id: str) -> Mapping[str, Any] | None:
        """The emulator's DescribeSecret, or ``None`` (then forwarding yields its error)."""
        import botocore.exceptions as bce

        try:
            meta: Mapping[str, Any] = self._up.describe_secret(SecretId=secret_id)
        except bce.ClientError:
            return None
        return meta

    @staticmethod
    def _labels(meta: Mapping[str, Any]) -> dict[str, str]:
        labels: dict[str, str] = {}
        for version_id, stages in (meta.get("VersionIdsToStages") or {}).items():
            for stage in stages or ():
                labels.setdefault(stage, version_id)
        return labels

    def _stored(self, arn: str, version_id: str) -> Mapping[str, Any] | None:
        """The emulator's GetSecretValue of one version (labelled or not), or ``None``."""
        import botocore.exceptions as bce

        try:
            found: Mapping[str, Any] = self._up.get_secret_value(SecretId=arn, VersionId=version_id)
        except bce.ClientError:
            return None
        return found

    def _event(self, name: str, arn: str, token: str, **extra: Any) -> None:
        self.events.append({"name": name, "secret": arn, "token": token, **extra})

    # -- the rules -------------------------------------------------------------------------

    def _on_PutSecretValue(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        params = json.loads(body or b"{}")
        token = params.get("ClientRequestToken")
        has_value = "SecretString" in params or "SecretBinary" in params
        stages = list(params.get("VersionStages") or [CURRENT])
        with self._lock:
            meta = self._describe(str(params.get("SecretId")))
            if meta is None:
                return self._forward(method, path, headers, body)
            arn = str(meta["ARN"])
            labels = self._labels(meta)
            pending, current = labels.get(PENDING), labels.get(CURRENT)
            if not has_value:
                if not token or stages != [PENDING]:
                    return self._forward(method, path, headers, body)
                self._claim(arn, token, pending, current)
                return self._json(
                    {"ARN": arn, "Name": meta["Name"], "VersionId": token, "VersionStages": stages}
                )
            stored = self._stored(arn, token) if token else None
            if token and stored is not None:
                if (arn, token) in self._empty:  # the first value of an empty version
                    reply = self._forward(method, path, headers, body)
                    if reply[0] == 200:
                        self._empty.discard((arn, token))
                    return reply
                return self._same_or_refuse(arn, meta, token, params, stored)
            reply = self._forward(method, path, headers, body)
            if reply[0] == 200 and CURRENT in stages and pending not in (None, current):
                assert pending is not None
                # Secrets Manager abandons the rotation: its version loses AWSPENDING
                self._up.update_secret_version_stage(
                    SecretId=arn, VersionStage=PENDING, RemoveFromVersionId=pending
                )
                self._event("RotationAbandoned", arn, pending)
            return reply

    def _claim(self, arn: str, token: str, pending: str | None, current: str | None) -> None:
        """Create the empty AWSPENDING version under ``token`` (caller holds the lock)."""
        if pending is not None and pending != current:
            raise _Refusal(
                "InvalidRequestException",
                "A previous rotation isn't complete. That rotation will be reattempted.",
            )
        if self._stored(arn, token) is not None:
            raise _Refusal(
                "ResourceExistsException",
                f"A version with VersionId {token} already exists for this secret.",
            )
        self._up.put_secret_value(
            SecretId=arn, ClientRequestToken=token, SecretString=_EMPTY, VersionStages=[PENDING]
        )
        self._empty.add((arn, token))

    def _same_or_refuse(
        self,
        arn: str,
        meta: Mapping[str, Any],
        token: str,
        params: Mapping[str, Any],
        stored: Mapping[str, Any],
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        same = (
            params.get("SecretString") == stored.get("SecretString")
            if "SecretString" in params
            else "SecretBinary" in stored
            and params.get("SecretBinary") is not None
            and _b64(stored["SecretBinary"]) == params["SecretBinary"]
        )
        if not same:
            raise _Refusal(
                "ResourceExistsException",
                "You can't modify an existing version, you can only create a new version.",
            )
        return self._json(
            {
                "ARN": arn,
                "Name": meta["Name"],
                "VersionId": token,
                "VersionStages": list(stored.get("VersionStages") or ()),
            }
        )

    def _on_GetSecretValue(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        params = json.loads(body or b"{}")
        if "VersionId" not in params and "VersionStage" not in params:
            params["VersionStage"] = CURRENT
            body = json.dumps(params).encode()
        status, out_headers, data = self._forward(method, path, headers, body)
        if status != 200:
            return status, out_headers, data
        reply = json.loads(data)
        if (str(reply.get("ARN")), str(reply.get("VersionId"))) in self._empty:
            asked = params.get("VersionStage") or params.get("VersionId")
            kind = "staging label" if "VersionStage" in params else "VersionId"
            raise _Refusal(
                "ResourceNotFoundException",
                f"Secrets Manager can't find the specified secret value for {kind}: {asked}",
            )
        return status, out_headers, data

    def _on_DescribeSecret(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        status, out_headers, data = self._forward(method, path, headers, body)
        if status != 200:
            return status, out_headers, data
        reply = json.loads(data)
        rotation = self._rotations.get(str(reply.get("ARN")))
        if rotation is None:
            return status, out_headers, data
        reply["RotationEnabled"] = rotation.enabled
        if rotation.function_arn:
            reply["RotationLambdaARN"] = rotation.function_arn
        if rotation.rules:
            reply["RotationRules"] = dict(rotation.rules)
        if rotation.last_rotated is not None:
            reply["LastRotatedDate"] = rotation.last_rotated.timestamp()
        return self._json(reply)

    def _on_CancelRotateSecret(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        params = json.loads(body or b"{}")
        meta = self._describe(str(params.get("SecretId")))
        if meta is None:
            return self._forward(method, path, headers, body)
        rotation = self._rotations.setdefault(str(meta["ARN"]), _Rotation())
        rotation.enabled = False
        return self._json({"ARN": meta["ARN"], "Name": meta["Name"]})

    def _on_RotateSecret(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        from erp.aws.driver import LocalRotationDriver
        from erp.aws.errors import RotationInProgress

        params = json.loads(body or b"{}")
        meta = self._describe(str(params.get("SecretId")))
        if meta is None:
            return self._forward(method, path, headers, body)
        arn = str(meta["ARN"])
        with self._lock:
            rotation = self._rotations.setdefault(arn, _Rotation())
            function_arn = params.get("RotationLambdaARN") or rotation.function_arn
            if not function_arn:
                raise _Refusal(
                    "InvalidRequestException",
                    "No Lambda rotation function ARN is associated with this secret.",
                )
            invoke = self._lambdas.get(function_arn)
            if invoke is None:
                raise _Refusal(
                    "InvalidRequestException",
                    f"The rotation function {function_arn} cannot be invoked "
                    "(the strict layer has no function registered under that ARN).",
                )
            rotation.enabled = True
            rotation.function_arn = function_arn
            if params.get("RotationRules"):
                rotation.rules = params["RotationRules"]
        token = params.get("ClientRequestToken") or str(uuid.uuid4())
        driver = LocalRotationDriver(
            self._self,
            invoke=lambda event: invoke({**event, "RotationToken": str(uuid.uuid4())}),
            max_attempts=self.rotation_attempts,
            sleep=lambda _seconds: None,
            where=f"the strict layer at {self.url}",
        )
        try:
            # the service leaves judging AWSCURRENT's value to the Lambda
            if params.get("RotateImmediately", True):
                outcome = driver.run(driver.start(arn, token=token, validate=False))
            else:
                outcome = driver.test_rotation(
                    arn, token=token, copy=self.test_copy, validate=False
                )
        except RotationInProgress:
            raise _Refusal(
                "InvalidRequestException",
                "A previous rotation isn't complete. That rotation will be reattempted.",
            ) from None
        for event in outcome.events:
            extra = {"step": event.step} if event.step else {}
            self._event(event.name, arn, event.token, **extra)
        if outcome.ok and params.get("RotateImmediately", True):
            rotation.last_rotated = self.clock()
        return self._json({"ARN": arn, "Name": meta["Name"], "VersionId": token})


def _epoch(value: object) -> object:
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"cannot encode {type(value).__name__}")


def _b64(value: bytes) -> str:
    import base64

    return base64.b64encode(value).decode()
