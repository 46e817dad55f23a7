"""Fernet decryption of hostile or odd input: one library error each, clock as a parameter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet

import erp.secrets
from erp import security
from erp.errors import InputError
from erp.fernet import FernetKeyRing, FernetTokenExpired, NoKeyOpens, NotText, TimestampInFuture

from .conftest import KeyFactory

T0 = 1_700_000_000


@pytest.fixture
def key(new_key: KeyFactory, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh FERNET_KEY in the environment."""
    value = new_key()
    monkeypatch.setenv("FERNET_KEY", value)
    erp.secrets.reset()
    return value


def test_non_ascii_token_is_no_key_opens(key: str) -> None:
    """A str token with non-ASCII characters is refused like any other bad token."""
    with pytest.raises(NoKeyOpens):
        security.decrypt("gAAAAAé" + "A" * 60)
    with pytest.raises(NoKeyOpens):
        security.decrypt_bytes("ünïcödé")


def test_non_utf8_plaintext_says_to_use_the_bytes_api(key: str) -> None:
    """A value encrypted from non-UTF-8 bytes: decrypt names decrypt_bytes; that one works."""
    token = security.encrypt(b"\xff\xfe binary")
    with pytest.raises(NotText, match=r"decrypt_bytes\(\)") as caught:
        security.decrypt(token)
    assert isinstance(caught.value, InputError)
    assert "binary" not in str(caught.value)
    assert security.decrypt_bytes(token) == b"\xff\xfe binary"


def test_ttl_in_seconds_or_timedelta_at_an_injected_time(key: str) -> None:
    """A token opens until exactly ``ttl`` after its timestamp, then is expired."""
    token = Fernet(key).encrypt_at_time(b"v", T0).decode()
    for ttl in (60, timedelta(seconds=60)):
        assert security.decrypt_at_time(token, ttl=ttl, current_time=T0 + 60) == "v"
        with pytest.raises(FernetTokenExpired):
            security.decrypt_at_time(token, ttl=ttl, current_time=T0 + 61)


def test_aware_datetime_is_a_moment_and_naive_one_is_refused(key: str) -> None:
    """``current_time`` takes epoch seconds or an aware datetime; a naive one is ambiguous."""
    token = Fernet(key).encrypt_at_time(b"v", T0).decode()
    moment = datetime.fromtimestamp(T0 + 10, tz=UTC)
    assert security.decrypt_at_time(token, ttl=60, current_time=moment) == "v"
    with pytest.raises(ValueError, match="aware"):
        security.decrypt_at_time(token, ttl=60, current_time=moment.replace(tzinfo=None))


def test_future_timestamp_beyond_skew_is_refused_with_a_ttl(key: str) -> None:
    """A token stamped 61 s ahead is refused when a ttl is checked; 60 s ahead is skew."""
    ring = FernetKeyRing.from_keys(key)
    ahead = Fernet(key).encrypt_at_time(b"v", T0 + 61)
    assert ring.decrypt_at_time(Fernet(key).encrypt_at_time(b"v", T0 + 60), ttl=5, current_time=T0)
    with pytest.raises(TimestampInFuture):
        ring.decrypt_at_time(ahead, ttl=5, current_time=T0)
    assert ring.decrypt(ahead) == "v"  # without a ttl no time is checked (as pyca)


def test_decrypt_without_ttl_ignores_age(key: str) -> None:
    """Stored values do not expire: no ttl, no age check, however old the token."""
    assert security.decrypt(Fernet(key).encrypt_at_time(b"old", 1).decode()) == "old"
