"""Fixtures for the AWS backend: a secret in the emulator, fault injection, a cuttable link.

Everything talks over HTTP with boto3 to the session's moto server behind the strict layer
(:class:`erp.aws.strict.StrictSecretsManager`), which enforces what AWS enforces and moto
does not. Faults are injected around a real client (a step that raises, a call that fails)
or in the network (a TCP relay the test can cut), never by replacing AWS with a mock.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

import pytest

from erp.aws.admin import push_ring
from erp.aws.client import AwsSettings, secretsmanager_client
from erp.aws.strict import StrictSecretsManager
from erp.clock import FrozenClock
from erp.keyring import KeyRing, RotationPolicy, rotate
from erp.testing.aws import CallCounter

SECRET_NAME = "erp/jwt-keys"


class MonotonicClock:
    """An injectable ``time.monotonic``: moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def make_ring(now: datetime, rotations: int = 1, policy: RotationPolicy | None = None) -> KeyRing:
    """A ring after ``rotations`` rotations at ``now`` (fresh random secrets every time)."""
    ring = KeyRing()
    for _ in range(rotations):
        ring = rotate(ring, now, policy or RotationPolicy()).ring
    return ring


def stages_of(client: Any, secret_id: str) -> dict[str, list[str]]:
    """Version id -> staging labels, as DescribeSecret reports them."""
    meta = client.describe_secret(SecretId=secret_id)
    return {vid: list(stages) for vid, stages in meta.get("VersionIdsToStages", {}).items()}


def label(client: Any, secret_id: str, stage: str) -> str | None:
    """The version id carrying ``stage``, or None."""
    for vid, stages in stages_of(client, secret_id).items():
        if stage in stages:
            return vid
    return None


def start_rotation(client: Any, secret_id: str, token: str) -> None:
    """What Secrets Manager does before the first step: AWSPENDING on an empty version.

    The strict layer creates the empty version (the emulator alone cannot hold one).
    """
    client.put_secret_value(
        SecretId=secret_id, ClientRequestToken=token, VersionStages=["AWSPENDING"]
    )


def connection_error() -> Exception:
    """What botocore raises when nothing answers at the endpoint."""
    from botocore.exceptions import EndpointConnectionError

    error: Exception = EndpointConnectionError(endpoint_url="http://127.0.0.1:9")
    return error


def client_error(code: str, operation: str) -> Exception:
    """An AWS error response as botocore raises it."""
    from botocore.exceptions import ClientError

    error: Exception = ClientError(
        {"Error": {"Code": code, "Message": "injected by the test"}}, operation
    )
    return error


class Faults:
    """A real client whose chosen operations fail on demand; counts every call it forwards."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.plan: dict[str, list[Exception | None]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.gates: dict[str, tuple[threading.Event, threading.Event]] = {}

    @property
    def meta(self) -> Any:
        return self._client.meta

    def fail(
        self, operation: str, error: Exception | None = None, times: int = 1, skip: int = 0
    ) -> None:
        """After ``skip`` calls pass, ``times`` calls of ``operation`` raise ``error``."""
        planned = self.plan.setdefault(operation, [])
        planned.extend([None] * skip + [error or connection_error()] * times)

    def heal(self) -> None:
        """No more injected failures."""
        self.plan.clear()

    def gate(self, operation: str) -> tuple[threading.Event, threading.Event]:
        """The next call of ``operation`` sets ``entered`` and waits for ``release``."""
        entered, release = threading.Event(), threading.Event()
        self.gates[operation] = (entered, release)
        return entered, release

    def count(self, operation: str) -> int:
        return sum(1 for name, _ in self.calls if name == operation)

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._client, name)
        if not callable(real):
            return real

        def call(**params: Any) -> Any:
            self.calls.append((name, params))
            gate = self.gates.pop(name, None)
            if gate is not None:
                gate[0].set()
                gate[1].wait(timeout=30)
            planned = self.plan.get(name)
            error = planned.pop(0) if planned else None
            if error is not None:
                raise error
            return real(**params)

        return call


class Relay:
    """A TCP relay to the moto server that the test can cut, as a network outage would."""

    def __init__(self, target: str) -> None:
        parsed = urlparse(target)
        self._target = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._up = threading.Event()
        self._up.set()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return
            if not self._up.is_set():
                downstream.close()
                continue
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                downstream.close()
                continue
            with self._lock:
                self._open.update((downstream, upstream))
            for src, dst in ((downstream, upstream), (upstream, downstream)):
                thread = threading.Thread(target=self._pump, args=(src, dst), daemon=True)
                self._threads.append(thread)
                thread.start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._drop(src)
            self._drop(dst)

    def _drop(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def cut(self) -> None:
        """Refuse new connections and break open ones."""
        self._up.clear()
        with self._lock:
            victims = list(self._open)
        for sock in victims:
            self._drop(sock)

    def restore(self) -> None:
        self._up.set()

    def close(self) -> None:
        self.cut()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._acceptor.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=5)


@pytest.fixture(scope="session")
def strict_layer(moto_endpoint: str) -> Iterator[StrictSecretsManager]:
    """The strict layer in front of the session's moto server."""
    with StrictSecretsManager(moto_endpoint) as layer:
        yield layer


@pytest.fixture
def aws_env(
    monkeypatch: pytest.MonkeyPatch, moto_endpoint: str, strict_layer: StrictSecretsManager
) -> str:
    """Fake credentials and region for the strict layer; moto and the layer are reset first."""
    import urllib.request

    reset = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset, timeout=10).close()
    strict_layer.reset()
    strict_layer.strict = True
    strict_layer.test_copy = False
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", strict_layer.url)
    return strict_layer.url


@pytest.fixture
def settings(aws_env: str) -> AwsSettings:
    """Settings for the moto server; one attempt per call, so failures need no SDK retries."""
    return AwsSettings(region="us-east-1", endpoint_url=aws_env, max_attempts=1)


@pytest.fixture(scope="session")
def _shared_sm(strict_layer: StrictSecretsManager) -> Any:
    """One client for the session: building a boto3 client costs a few hundred ms."""
    settings = AwsSettings(region="us-east-1", endpoint_url=strict_layer.url, max_attempts=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        return secretsmanager_client(settings)


@pytest.fixture
def sm(settings: AwsSettings, _shared_sm: Any) -> Any:
    """A boto3 Secrets Manager client talking HTTP to the (freshly reset) moto server."""
    return _shared_sm


@pytest.fixture
def ring(clock: FrozenClock) -> KeyRing:
    """A one-key ring with a freshly generated secret."""
    return make_ring(clock())


@pytest.fixture
def secret_arn(sm: Any, ring: KeyRing) -> str:
    """The ARN of a secret holding ``ring`` as its only (AWSCURRENT) version."""
    return push_ring(sm, SECRET_NAME, ring, create=True).arn


@pytest.fixture
def counter(sm: Any) -> Iterator[CallCounter]:
    """Counts the calls ``sm`` makes from now on."""
    counting = CallCounter().attach(sm)
    try:
        yield counting
    finally:
        sm.meta.events.unregister("before-call.*.*", counting)


@pytest.fixture
def mono() -> MonotonicClock:
    """A monotonic clock for caches and rate limits."""
    return MonotonicClock()


@pytest.fixture
def relay(aws_env: str) -> Iterator[Relay]:
    """A relay to the moto server that the test can cut."""
    link = Relay(aws_env)
    try:
        yield link
    finally:
        link.close()


@pytest.fixture
def faults(sm: Any) -> Faults:
    """``sm`` with failure injection."""
    return Faults(sm)


@pytest.fixture
def no_secret_in() -> Callable[..., None]:
    """Asserts that no secret of the given ring occurs in a text."""

    def check(text: str, *rings: KeyRing) -> None:
        for r in rings:
            for key in r.keys:
                assert key.secret not in text, f"secret of {key.id} leaked"

    return check


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run ``erp-secrets`` in-process; returns (exit code, stdout, stderr)."""
    from erp.cli import main

    def invoke(*argv: str) -> tuple[int, str, str]:
        code = 0
        try:
            main(list(argv))
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return invoke
