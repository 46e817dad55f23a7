"""Asymmetric signing keys bound to one algorithm: EdDSA (Ed25519), ES256 (P-256), RS256.

A key is made for one algorithm and carries it for life; a token header only names the
algorithm, never chooses it (RFC 8725 section 3.1). The private key is stored as text: a
private JWK (RFC 7517) in compact JSON with its ``alg`` member, e.g.
``{"alg":"EdDSA","crv":"Ed25519","d":"...","kty":"OKP","x":"..."}``. A JWK rather than PKCS8
PEM because it holds the algorithm beside the key in one string, so ``JWT_SECRETS`` needs no
new entry, and because a JWK is refused as an HMAC secret by the key ring, so the private key
can never be used as a shared secret by mistake.

Loading refuses what would weaken verification: RSA moduli under :data:`MIN_RSA_BITS` (or over
:data:`MAX_RSA_BITS`, a verification-cost attack), curves other than the algorithm's, points
off the curve, a private half that does not match its public half, and an ``alg`` that does
not fit the key type. Private members (``d``, ``p``, ``q``, ``dp``, ``dq``, ``qi``) appear only
in :meth:`PrivateKey.to_text`; never in a public JWK, ``repr``, ``str`` or an error message.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final, Literal, TypeAlias

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from erp.errors import WeakSecret
from erp.jwt.compact import b64url_decode, b64url_encode

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "MAX_RSA_BITS",
    "MIN_RSA_BITS",
    "PRIVATE_MEMBERS",
    "Algorithm",
    "PrivateKey",
    "PublicKey",
    "UnusableKey",
    "is_private_jwk_text",
    "load_private_key",
    "public_key_from_jwk",
    "thumbprint",
]

Algorithm: TypeAlias = Literal["EdDSA", "ES256", "RS256"]
ASYMMETRIC_ALGORITHMS: Final[tuple[Algorithm, ...]] = ("EdDSA", "ES256", "RS256")
"""The public-key algorithms a ring key may be made for (HMAC keys stay in the key ring)."""

MIN_RSA_BITS: Final = 2048
"""RFC 7518 section 3.3: "A key of size 2048 bits or larger MUST be used"."""

MAX_RSA_BITS: Final = 8192
"""Larger moduli only make each verification slower for an attacker-chosen JWKS."""

PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
"""JWK members that carry secret material (RFC 7518 sections 6.2.2, 6.3.2, 6.4; RFC 8037)."""

_MAX_JWK_TEXT: Final = 16 * 1024  # an 8192-bit private RSA JWK is about 6.5 KiB
_KTY: Final[Mapping[str, str]] = {"EdDSA": "OKP", "ES256": "EC", "RS256": "RSA"}
_CRV: Final[Mapping[str, str]] = {"EdDSA": "Ed25519", "ES256": "P-256"}
_P256_BYTES: Final = 32
_THUMBPRINT_MEMBERS: Final[Mapping[str, tuple[str, ...]]] = {
    "OKP": ("crv", "kty", "x"),
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
}

PublicKeyObject: TypeAlias = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey
PrivateKeyObject: TypeAlias = (
    ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
)


class UnusableKey(WeakSecret):
    """A key is refused: weak RSA size, wrong curve, bad encoding, or alg not fitting the key.

    The message names where the key came from and what is wrong, never a key member.
    """


def _int_member(jwk: Mapping[str, Any], name: str, where: str) -> int:
    return int.from_bytes(_bytes_member(jwk, name, where), "big")


def _bytes_member(jwk: Mapping[str, Any], name: str, where: str) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str) or not value:
        raise UnusableKey(f"{where}: JWK member {name!r} is missing or not a string")
    try:
        return b64url_decode(value.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise UnusableKey(f"{where}: JWK member {name!r} is not base64url") from None


def _b64_int(value: int, length: int | None = None) -> str:
    size = length if length is not None else max(1, (value.bit_length() + 7) // 8)
    return b64url_encode(value.to_bytes(size, "big")).decode("ascii")


def _alg_of(jwk: Mapping[str, Any], where: str) -> Algorithm:
    """The algorithm a JWK is for: its ``alg`` if present (checked against its type), else
    the only one this module allows for its ``kty``/``crv``."""
    kty = jwk.get("kty")
    alg = jwk.get("alg")
    if alg is not None:
        if alg not in ASYMMETRIC_ALGORITHMS:
            raise UnusableKey(
                f"{where}: alg {str(alg)[:16]!r} is not one of {', '.join(ASYMMETRIC_ALGORITHMS)}"
            )
        if _KTY[alg] != kty:
            raise UnusableKey(f"{where}: alg {alg} needs kty {_KTY[alg]}, not {str(kty)[:8]!r}")
        chosen: Algorithm = alg
    elif kty == "OKP":
        chosen = "EdDSA"
    elif kty == "EC":
        chosen = "ES256"
    elif kty == "RSA":
        chosen = "RS256"
    else:
        raise UnusableKey(f"{where}: kty {str(kty)[:8]!r} is not OKP, EC or RSA")
    want_crv = _CRV.get(chosen)
    if want_crv is not None and jwk.get("crv") != want_crv:
        raise UnusableKey(
            f"{where}: {chosen} needs curve {want_crv}, not {str(jwk.get('crv'))[:16]!r}"
        )
    return chosen


def _check_rsa_size(n: int, where: str) -> None:
    bits = n.bit_length()
    if bits < MIN_RSA_BITS:
        raise UnusableKey(f"{where}: RSA key is {bits} bits; at least {MIN_RSA_BITS} are required")
    if bits > MAX_RSA_BITS:
        raise UnusableKey(f"{where}: RSA key is {bits} bits; at most {MAX_RSA_BITS} are accepted")


def _public_object(jwk: Mapping[str, Any], alg: Algorithm, where: str) -> PublicKeyObject:
    try:
        if alg == "EdDSA":
            x = _bytes_member(jwk, "x", where)
            if len(x) != 32:
                raise UnusableKey(f"{where}: Ed25519 'x' must be 32 bytes")
            return ed25519.Ed25519PublicKey.from_public_bytes(x)
        if alg == "ES256":
            x, y = _bytes_member(jwk, "x", where), _bytes_member(jwk, "y", where)
            if len(x) != _P256_BYTES or len(y) != _P256_BYTES:  # RFC 7518 6.2.1.2: full length
                raise UnusableKey(f"{where}: P-256 'x' and 'y' must be 32 bytes each")
            numbers = ec.EllipticCurvePublicNumbers(
                int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
            )
            return numbers.public_key()  # refuses a point off the curve (invalid-curve attack)
        n, e = _int_member(jwk, "n", where), _int_member(jwk, "e", where)
        _check_rsa_size(n, where)
        if e < 3 or e % 2 == 0:
            raise UnusableKey(f"{where}: RSA exponent must be odd and at least 3")
        return rsa.RSAPublicNumbers(e, n).public_key()
    except ValueError:
        raise UnusableKey(f"{where}: the {alg} public key is not valid") from None


def _public_members(key: PublicKeyObject) -> dict[str, str]:
    if isinstance(key, ed25519.Ed25519PublicKey):
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {"crv": "Ed25519", "kty": "OKP", "x": b64url_encode(raw).decode("ascii")}
    if isinstance(key, ec.EllipticCurvePublicKey):
        nums = key.public_numbers()
        return {
            "crv": "P-256",
            "kty": "EC",
            "x": _b64_int(nums.x, _P256_BYTES),
            "y": _b64_int(nums.y, _P256_BYTES),
        }
    rsa_nums = key.public_numbers()
    return {"e": _b64_int(rsa_nums.e), "kty": "RSA", "n": _b64_int(rsa_nums.n)}


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint (base64url) of a JWK's required public members."""
    names = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if names is None:
        raise ValueError("thumbprint needs an OKP, EC or RSA JWK")
    text = json.dumps({n: jwk[n] for n in names}, separators=(",", ":"), sort_keys=True)
    return b64url_encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


@dataclass(frozen=True, repr=False, eq=False)
class PublicKey:
    """A public key and the one algorithm it verifies."""

    alg: Algorithm
    key: PublicKeyObject

    def members(self) -> dict[str, str]:
        """The RFC 7638 required members (``kty``, ``crv``, ``x``, ``y`` / ``n``, ``e``)."""
        return _public_members(self.key)

    def jwk(self, kid: str | None = None) -> dict[str, str]:
        """The public JWK: key members, ``alg``, ``use: sig`` and ``kid`` when given."""
        out = {**self.members(), "alg": self.alg, "use": "sig"}
        if kid is not None:
            out["kid"] = kid
        return dict(sorted(out.items()))

    @property
    def thumbprint(self) -> str:
        """RFC 7638 SHA-256 thumbprint of this key."""
        return thumbprint(self.members())

    def verify(self, signature: bytes, data: bytes) -> bool:
        """Whether ``signature`` is this key's JWS signature (RFC 7518/8037 form) of ``data``."""
        key = self.key
        try:
            if isinstance(key, ed25519.Ed25519PublicKey):
                key.verify(signature, data)
            elif isinstance(key, ec.EllipticCurvePublicKey):
                if len(signature) != 2 * _P256_BYTES:  # JWS uses raw R||S, never DER
                    return False
                r = int.from_bytes(signature[:_P256_BYTES], "big")
                s = int.from_bytes(signature[_P256_BYTES:], "big")
                key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
            else:
                key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return False
        return True

    def __repr__(self) -> str:
        return f"PublicKey(alg={self.alg!r}, thumbprint={self.thumbprint!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PublicKey):
            return NotImplemented
        return self.alg == other.alg and self.members() == other.members()

    def __hash__(self) -> int:
        return hash((self.alg, self.thumbprint))


@dataclass(frozen=True, repr=False, eq=False)
class PrivateKey:
    """A private signing key bound to its algorithm. Never shown in ``repr`` or ``str``."""

    alg: Algorithm
    key: PrivateKeyObject = field(repr=False)

    @classmethod
    def generate(cls, alg: str, *, rsa_bits: int = 3072) -> PrivateKey:
        """A fresh key for ``alg`` (EdDSA, ES256, or RS256 with ``rsa_bits``, default 3072)."""
        if alg == "EdDSA":
            return cls("EdDSA", ed25519.Ed25519PrivateKey.generate())
        if alg == "ES256":
            return cls("ES256", ec.generate_private_key(ec.SECP256R1()))
        if alg == "RS256":
            if not MIN_RSA_BITS <= rsa_bits <= MAX_RSA_BITS:
                raise ValueError(f"rsa_bits must be {MIN_RSA_BITS} to {MAX_RSA_BITS}")
            return cls("RS256", rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits))
        raise ValueError(f"alg must be one of {', '.join(ASYMMETRIC_ALGORITHMS)}, not {alg!r}")

    @property
    def public(self) -> PublicKey:
        """The public half, with the same algorithm."""
        return PublicKey(self.alg, self.key.public_key())

    @property
    def thumbprint(self) -> str:
        """RFC 7638 thumbprint of the public half (safe to log)."""
        return self.public.thumbprint

    def to_text(self) -> str:
        """The private JWK as compact, sorted JSON: the form stored in the vault. Secret."""
        key = self.key
        out: dict[str, str] = {**self.public.members(), "alg": self.alg}
        if isinstance(key, ed25519.Ed25519PrivateKey):
            from cryptography.hazmat.primitives.serialization import (
                Encoding,
                NoEncryption,
                PrivateFormat,
            )

            raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
            out["d"] = b64url_encode(raw).decode("ascii")
        elif isinstance(key, ec.EllipticCurvePrivateKey):
            out["d"] = _b64_int(key.private_numbers().private_value, _P256_BYTES)
        else:
            nums = key.private_numbers()
            out.update(
                d=_b64_int(nums.d),
                p=_b64_int(nums.p),
                q=_b64_int(nums.q),
                dp=_b64_int(nums.dmp1),
                dq=_b64_int(nums.dmq1),
                qi=_b64_int(nums.iqmp),
            )
        return json.dumps(out, separators=(",", ":"), sort_keys=True)

    def sign(self, data: bytes) -> bytes:
        """The JWS signature of ``data`` (raw R||S for ES256, RFC 7518 section 3.4)."""
        key = self.key
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(data)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(_P256_BYTES, "big") + s.to_bytes(_P256_BYTES, "big")
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def __repr__(self) -> str:
        return f"PrivateKey(alg={self.alg!r}, thumbprint={self.thumbprint!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PrivateKey):
            return NotImplemented
        return self.alg == other.alg and self.public == other.public

    def __hash__(self) -> int:
        return hash((self.alg, self.thumbprint))

    def __reduce__(self) -> Any:
        # pickling would copy the private key into caches and queues unnoticed: refuse
        raise TypeError("PrivateKey cannot be pickled; store PrivateKey.to_text() in the vault")


def is_private_jwk_text(text: object) -> bool:
    """Whether stored text is (meant to be) a private JWK rather than an HMAC secret.

    A public JWK, or an ``oct`` one, is not: the key ring refuses those as HMAC secrets.
    """
    return (
        isinstance(text, str)
        and text.lstrip().startswith("{")
        and '"kty"' in text
        and '"d"' in text
    )


def _parse_jwk_text(text: str, where: str) -> dict[str, Any]:
    if len(text) > _MAX_JWK_TEXT:
        raise UnusableKey(f"{where}: a JWK longer than {_MAX_JWK_TEXT} characters is refused")
    try:
        jwk = json.loads(text)
    except ValueError:
        raise UnusableKey(f"{where} is not valid JWK JSON") from None
    if not isinstance(jwk, dict):
        raise UnusableKey(f"{where} is not a JWK JSON object")
    return jwk


def load_private_key(text: str, *, where: str = "key", alg: str | None = None) -> PrivateKey:
    """The :class:`PrivateKey` stored as ``text`` (see :meth:`PrivateKey.to_text`).

    ``alg``, when given, must be the key's own algorithm. Raises :class:`UnusableKey`.
    """
    if not isinstance(text, str):
        raise UnusableKey(f"{where} is a {type(text).__name__}, not a JWK string")
    return _load_private_cached(text, where, alg)


@lru_cache(maxsize=256)
def _load_private_cached(text: str, where: str, alg: str | None) -> PrivateKey:
    # parsing an RSA JWK checks its primes (milliseconds); a ring reload re-reads every key
    jwk = _parse_jwk_text(text, where)
    chosen = _alg_of(jwk, where)
    if alg is not None and alg != chosen:
        raise UnusableKey(f"{where}: the key is for {chosen}, not {alg}")
    public = _public_object(jwk, chosen, where)
    try:
        private: PrivateKeyObject
        if chosen == "EdDSA":
            d = _bytes_member(jwk, "d", where)
            if len(d) != 32:
                raise UnusableKey(f"{where}: Ed25519 'd' must be 32 bytes")
            private = ed25519.Ed25519PrivateKey.from_private_bytes(d)
        elif chosen == "ES256":
            d_bytes = _bytes_member(jwk, "d", where)
            if len(d_bytes) != _P256_BYTES:
                raise UnusableKey(f"{where}: P-256 'd' must be 32 bytes")
            private = ec.derive_private_key(int.from_bytes(d_bytes, "big"), ec.SECP256R1())
        else:
            private = _rsa_private(jwk, public, where)
    except ValueError:
        raise UnusableKey(f"{where}: the {chosen} private key is not valid") from None
    key = PrivateKey(chosen, private)
    if key.public.members() != _public_members(public):
        raise UnusableKey(f"{where}: the private key does not match its public members")
    return key


def _rsa_private(jwk: Mapping[str, Any], public: PublicKeyObject, where: str) -> rsa.RSAPrivateKey:
    assert isinstance(public, rsa.RSAPublicKey)
    pub = public.public_numbers()
    d = _int_member(jwk, "d", where)
    if "p" in jwk:
        p, q = _int_member(jwk, "p", where), _int_member(jwk, "q", where)
        dp, dq = _int_member(jwk, "dp", where), _int_member(jwk, "dq", where)
        qi = _int_member(jwk, "qi", where)
    else:  # RFC 7518 6.3.2: the CRT members are optional; recover them
        p, q = rsa.rsa_recover_prime_factors(pub.n, pub.e, d)
        dp, dq, qi = rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q)
    return rsa.RSAPrivateNumbers(p, q, d, dp, dq, qi, pub).private_key()


def public_key_from_jwk(jwk: Mapping[str, Any], *, where: str = "JWK") -> PublicKey:
    """The :class:`PublicKey` of a public JWK, e.g. one entry of a fetched JWK Set.

    Refuses a JWK that carries private members (a publisher leaking its key must not be
    trusted to hold it), ``use`` other than ``sig``, and everything :func:`load_private_key`
    refuses about the public half.
    """
    if not isinstance(jwk, Mapping):
        raise UnusableKey(f"{where} is not a JSON object")
    if PRIVATE_MEMBERS & set(jwk):
        raise UnusableKey(f"{where} carries private key members; it must never be published")
    use = jwk.get("use")
    if use is not None and use != "sig":
        raise UnusableKey(f"{where} is for use {str(use)[:8]!r}, not 'sig'")
    alg = _alg_of(jwk, where)
    return PublicKey(alg, _public_object(jwk, alg, where))
