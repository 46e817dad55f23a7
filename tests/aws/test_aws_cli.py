"""``erp-secrets aws push|status|rotate`` against the moto server over HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from erp.audit import AuditLog
from erp.clock import FrozenClock
from erp.keyring import KeyRing
from erp.rotation.jwt import load_ring, rotate_key
from erp.vault import VaultFile

from .conftest import SECRET_NAME, label, stages_of

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def local_ring(vault: VaultFile, log: AuditLog, clock: FrozenClock) -> KeyRing:
    """A vault file holding a ring after two rotations."""
    rotate_key(vault=vault, log=log, clock=clock)
    rotate_key(vault=vault, log=log, clock=clock)
    return load_ring(vault)


@pytest.fixture
def env_secret(monkeypatch: pytest.MonkeyPatch, aws_env: str) -> None:
    """ERP_AWS_SECRET_ID names the secret; one SDK attempt per call."""
    monkeypatch.setenv("ERP_AWS_SECRET_ID", SECRET_NAME)
    monkeypatch.setenv("ERP_AWS_MAX_ATTEMPTS", "1")


@pytest.mark.usefixtures("env_secret")
def test_push_creates_the_secret_from_the_vault_ring_and_prints_no_secret(
    run: Run, sm: Any, local_ring: KeyRing, no_secret_in: Callable[..., None]
) -> None:
    """push --create stores the vault's ring as AWSCURRENT and prints ids and fingerprints."""
    code, out, err = run("aws", "push", "--create")
    assert code == 0, err
    assert f"JWT_SECRET_ID={local_ring.active.id}" in out
    assert local_ring.active.fingerprint in out
    no_secret_in(out + err, local_ring)
    current = json.loads(
        sm.get_secret_value(SecretId=SECRET_NAME, VersionStage="AWSCURRENT")["SecretString"]
    )
    assert current["JWT_SECRET_ID"] == local_ring.active.id
    assert current["JWT_SECRETS"] == local_ring.secrets_map()


@pytest.mark.usefixtures("env_secret", "local_ring")
def test_pushing_the_same_ring_twice_writes_one_version(run: Run, sm: Any) -> None:
    """A second push of an unchanged ring says so and writes nothing."""
    assert run("aws", "push", "--create")[0] == 0
    code, out, _ = run("aws", "push")
    assert code == 0
    assert "nothing written" in out
    assert len(stages_of(sm, SECRET_NAME)) == 1


@pytest.mark.usefixtures("env_secret", "local_ring")
def test_push_to_a_missing_secret_without_create_is_one_clear_error(run: Run, sm: Any) -> None:
    """Without --create a missing secret is an error that names the fix; nothing is created."""
    code, _out, err = run("aws", "push")
    assert code == 1
    assert err.count("error:") == 1
    assert "--create" in err
    assert sm.list_secrets()["SecretList"] == []


@pytest.mark.usefixtures("env_secret")
def test_push_of_an_empty_vault_is_refused(run: Run, sm: Any) -> None:
    """No local keys: the error says to rotate first; nothing is created."""
    code, _, err = run("aws", "push", "--create")
    assert code == 1
    assert "erp-secrets jwt rotate" in err
    assert sm.list_secrets()["SecretList"] == []


@pytest.mark.usefixtures("env_secret", "local_ring")
def test_push_during_a_rotation_is_refused_unless_forced(run: Run, sm: Any) -> None:
    """A pending rotation would be abandoned by a push: refused, then allowed with --force."""
    from .conftest import start_rotation

    assert run("aws", "push", "--create")[0] == 0
    start_rotation(sm, SECRET_NAME, "0b7e4c9a-1f2d-4e3b-8a5c-6d7e8f9a0b1c")
    versions = len(stages_of(sm, SECRET_NAME))
    code, _, err = run("aws", "push")
    assert code == 1
    assert "rotation" in err
    assert "--force" in err
    assert len(stages_of(sm, SECRET_NAME)) == versions
    assert run("aws", "push", "--force")[0] == 0


@pytest.mark.usefixtures("env_secret")
def test_status_shows_versions_stages_and_keys_never_secrets(
    run: Run, sm: Any, local_ring: KeyRing, no_secret_in: Callable[..., None]
) -> None:
    """status lists each version with its labels and key ids; --json too."""
    run("aws", "push", "--create")
    assert run("aws", "rotate", "--retry-delay", "0")[0] == 0
    code, out, err = run("aws", "status")
    assert code == 0, err
    assert "AWSCURRENT" in out
    assert "AWSPREVIOUS" in out
    assert local_ring.active.id in out
    code, text, _ = run("aws", "status", "--json")
    status = json.loads(text)
    assert [v["stages"] for v in status["versions"]] == [["AWSCURRENT"], ["AWSPREVIOUS"]]
    assert status["rotation_in_progress"] is False
    assert status["versions"][0]["derived_from"] == status["versions"][1]["version_id"]
    no_secret_in(out + text, local_ring)


@pytest.mark.usefixtures("env_secret", "local_ring")
def test_rotate_runs_a_rotation_and_prints_its_events(
    run: Run, sm: Any, no_secret_in: Callable[..., None], local_ring: KeyRing
) -> None:
    """aws rotate: Started, the four steps, Succeeded; AWSCURRENT moves to a new key."""
    run("aws", "push", "--create")
    before = label(sm, SECRET_NAME, "AWSCURRENT")
    code, out, err = run("aws", "rotate", "--json")
    assert code == 0, err
    outcome = json.loads(out)
    assert outcome["ok"] is True
    assert [e["event"] for e in outcome["events"]] == ["RotationStarted", "RotationSucceeded"]
    assert [s["step"] for s in outcome["steps"]] == [
        "createSecret",
        "setSecret",
        "testSecret",
        "finishSecret",
    ]
    assert label(sm, SECRET_NAME, "AWSCURRENT") not in (None, before)
    no_secret_in(out + err, local_ring)


@pytest.mark.usefixtures("env_secret")
def test_rotate_of_a_malformed_secret_is_one_clear_error_and_writes_nothing(
    run: Run, sm: Any
) -> None:
    """Malformed JSON in AWS: one error line, exit 1, no new version or label."""
    sm.create_secret(Name=SECRET_NAME, SecretString="{oops")
    before = stages_of(sm, SECRET_NAME)
    code, _out, err = run("aws", "rotate")
    assert code == 1
    assert err.count("\n") == 1
    assert "not valid JSON" in err
    assert stages_of(sm, SECRET_NAME) == before


@pytest.mark.usefixtures("env_secret", "local_ring")
def test_wrong_region_is_one_clear_error_and_writes_nothing(run: Run, sm: Any) -> None:
    """The secret exists in us-east-1; asking eu-west-1 reports it missing there."""
    run("aws", "push", "--create")
    before = stages_of(sm, SECRET_NAME)
    code, _, err = run("aws", "rotate", "--region", "eu-west-1")
    assert code == 1
    assert err.count("\n") == 1
    assert "region eu-west-1" in err
    assert stages_of(sm, SECRET_NAME) == before


@pytest.mark.usefixtures("env_secret", "local_ring")
def test_missing_credentials_are_one_clear_error(
    run: Run, sm: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No credentials anywhere: one error line naming how to provide them."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    for command in ("push", "status", "rotate"):
        code, _, err = run("aws", command)
        assert code == 1
        assert err.count("\n") == 1
        assert "no AWS credentials" in err


@pytest.mark.usefixtures("env_secret", "local_ring")
def test_an_unreachable_endpoint_is_one_clear_error(run: Run) -> None:
    """Nothing listening at the endpoint: one line saying AWS is unreachable."""
    code, _, err = run("aws", "status", "--endpoint-url", "http://127.0.0.1:9")
    assert code == 1
    assert err.count("\n") == 1
    assert "unreachable" in err
