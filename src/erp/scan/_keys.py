"""Key-material detectors: Fernet keys and private keys (PEM, PuTTY, ssh.com, private JWKs).

A Fernet key is decided by context and shape together. Its shape (url-safe base64 of 32
bytes) is shared by lock-file hashes (``h1:`` in ``go.sum``), SRI digests, ``CodeSha256``
and WireGuard public keys, which are standard base64: a value is a Fernet key when

* its alphabet proves it url-safe (it holds ``-`` or ``_``, which standard base64 never
  does; a random key does 3 times in 4), or
* it stands in a Fernet context: a name with ``fernet`` in it, a ``Fernet(``/``MultiFernet(``
  call, an encryption-key setting (:data:`_KEY_NAMES`), on its line or the line before;

and it is never a key when it decodes to printable ASCII (the base64 of a hex digest, an ETag,
a YAML ``!!binary`` text: 32 random bytes are all printable once in 10**14), when a hash
prefix stands right before it (``h1:``, ``sha256-``, ``sha512-``, ``sha256:``), or when the
name it is bound to says hash (``CodeSha256``, ``integrity``, ``checksum``, ``PublicKey``).
Only the value's own name counts: a digest elsewhere on a minified line hides nothing.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator

from erp.scan._base import Detector, Hit, redact
from erp.scan._text import Text, find_all
from erp.scan.rules import is_documentation_example

__all__ = ["FernetKey", "PrivateKeyBlock"]

_FERNET_RUN = b"a" * 43 + b"="
# 32 bytes = 256 bits; the 43rd character carries the last 4 bits and two zero bits, so it is
# one of these sixteen. A random 43-character string followed by "=" passes only 1 time in 4.
_FERNET_LAST = frozenset(b"AEIMQUYcgkosw048")
_FERNET_CONTEXT = re.compile(rb"fernet")
# Settings that hold Fernet keys under another name (Django/Airflow/SQLAlchemy-Utils ...).
_KEY_NAMES = re.compile(
    rb"(?:field_|data_|db_|column_|app_)?encryption_?keys?|encrypt_?keys?|crypt_?keys?|cipher_?keys?"
)
_HASH_PREFIX = re.compile(rb"(?:h1:|sha(?:1|224|256|384|512)[-:=]|md5[-:]|sha-256=)$")
# The name a value is bound to: the last word before it, past quotes and an operator.
_BOUND_NAME = re.compile(
    rb"([a-z0-9_.$-]+)[\"'`\\\])>]*[ \t]*(?:=>|::?=|[?+.|]?=|:|\(|,|>|\|\|)?[ \t]*"
    rb"(?:[a-z_][\w.]*\(\[?)?[ \t]*(?:[bru]{0,2}[\"'`]|\\{1,3}[\"'])?$"
)
_HASH_NAME = re.compile(
    rb"sha-?\d|hash|digest|checksum|integrity|etag|publickey|public_key|pubkey|fingerprint|"
    rb"nonce|salt"
)
_WINDOW = 160
_LIST_LINES = 12
_LIST_ITEM = re.compile(rb"[ \t]*-?[ \t]*[bru]?[\"']?[a-z0-9_=-]{20,}[\"']?\)?,?[ \t]*\r?$")


class FernetKey(Detector):
    name = "Fernet Key"
    slug = "fernet-key"
    plugin = "ErpFernetKeyDetector"
    summary = (
        "url-safe base64 of 32 random bytes (44 characters ending in '=') with a url-safe "
        "character or in a Fernet context; never a named or prefixed hash"
    )

    def find(self, text: Text) -> Iterator[Hit]:
        data = text.data
        if b"=" not in data:
            return
        mask = text.mask
        size = len(mask)
        index = mask.find(_FERNET_RUN)
        while index >= 0:
            end = index + 44
            if (
                (index == 0 or mask[index - 1] not in b"ab")
                and (end >= size or mask[end] not in b"ab=")
                and data[index + 42] in _FERNET_LAST
            ):
                raw = data[index:end]
                if len(set(raw)) >= 16 and not _printable(raw) and _is_fernet(text, index, raw):
                    value = raw.decode()
                    yield Hit(index, value, redact(value), is_documentation_example(value))
            index = mask.find(_FERNET_RUN, end)


def _printable(raw: bytes) -> bool:
    """The key decodes to printable ASCII: encoded text, not 32 random bytes."""
    try:
        decoded = base64.urlsafe_b64decode(raw)
    except (binascii.Error, ValueError):
        return True
    return all(32 <= byte < 127 for byte in decoded)


def _context(text: Text, index: int) -> bytes:
    """Lower-case text before ``index`` on its line; the line before if nothing stands there."""
    lower = text.lower
    line_start = text.line_start(index)
    before = lower[max(line_start, index - _WINDOW) : index]
    # Nothing before the value on its line: its name is above (a value on the next line, or
    # the items of a list of keys below their name).
    walk = 0 if before.strip(b" \t\"'`\\(-") else _LIST_LINES
    for _ in range(walk):
        if line_start == 0:
            break
        end = line_start - 1
        line_start = text.line_start(end)
        line = lower[max(line_start, end - _WINDOW) : end]
        before = line + b" " + before
        if not _LIST_ITEM.match(line):
            break
    return before


def _is_fernet(text: Text, index: int, raw: bytes) -> bool:
    before = _context(text, index)
    if _HASH_PREFIX.search(before[-12:]):
        return False
    bound = _BOUND_NAME.search(before)
    name = bound.group(1) if bound else b""
    if _HASH_NAME.search(name) and not _FERNET_CONTEXT.search(name):
        return False
    if b"-" in raw or b"_" in raw:
        return not (name.endswith(b"=") or _ends_base64_block(text, index))
    if not (_FERNET_CONTEXT.search(before) or _KEY_NAMES.search(name)):
        # A YAML/TOML parent: "fernet:" / "[fernet]" on the line above "  key: ...".
        line_start = text.line_start(index)
        if line_start == 0:
            return False
        above = text.lower[text.line_start(line_start - 1) : line_start]
        if not _FERNET_CONTEXT.search(above[-_WINDOW:]):
            return False
    return not (text.line_start(index) == index and _ends_base64_block(text, index))


def _ends_base64_block(text: Text, line_start: int) -> bool:
    """The line before is a full-width base64 line: this is the last line of a PEM body."""
    if line_start < 2:
        return False
    start = text.line_start(line_start - 1)
    previous = text.mask[start : line_start - 1].rstrip(b" ")
    return len(previous) >= 60 and not previous.translate(None, b"ab=")


# PEM and ssh.com (RFC 4716: "---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----") armour.
_PEM_BEGIN = re.compile(rb"-{4,5} ?BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY(?: BLOCK)? ?-{4,5}")
# Encrypted PEM, PGP and ssh.com blocks carry "Name: value" header lines before the body.
_PEM_HEADER = re.compile(
    rb"(?:[ \t\"'\r\n]|\\+[nr]|\\(?=\r?\n))*[A-Z][A-Za-z0-9-]*: [^\n\\]*(?:\\+n|\\?\r?\n)"
)
# The body: runs of at least 16 base64 characters, between line breaks, quotes, "\\n" escapes
# (also doubly escaped, in JSON inside JSON) and backslash line continuations (.properties).
_PEM_BODY = re.compile(rb"(?:(?:\\+[nr]|\\(?=\r?\n)|[ \t\r\n\"',+])*[A-Za-z0-9+/=]{16,})+")
_PEM_NOT_BASE64 = re.compile(rb"\\+[nr]|[^A-Za-z0-9+/=]")
_PEM_MIN_BODY = 64

# PuTTY's .ppk (v2 and v3): "PuTTY-User-Key-File-N: <algorithm>" ... "Private-Lines: N" + body.
_PPK = re.compile(rb"PuTTY-User-Key-File-([23]): [^\r\n]*")
_PPK_PRIVATE = re.compile(rb"Private-Lines: *([0-9]{1,3})[ \t]*\r?\n")
_PPK_REACH = 16384

# A private JSON Web Key: an object with "kty" and a private "d" member (RSA, EC, OKP).
_JWK_D = re.compile(rb"\\{0,3}[\"']d\\{0,3}[\"'][ \t]*:[ \t]*\\{0,3}[\"']([A-Za-z0-9_-]{20,})")
_JWK_REACH = 8192


class PrivateKeyBlock(Detector):
    name = "Private Key Block"
    slug = "private-key"
    plugin = "ErpPrivateKeyDetector"
    summary = (
        "'-----BEGIN … PRIVATE KEY-----' (and ssh.com '---- BEGIN SSH2 … PRIVATE KEY ----') "
        "followed by at least 64 base64 characters (also in string literals with \\n escapes), "
        "PuTTY .ppk private parts, private JWKs ('kty' with a 'd' member)"
    )

    def find(self, text: Text) -> Iterator[Hit]:
        data = text.data
        if b"-----BEGIN " in data or b"---- BEGIN " in data:
            yield from self._pem(data)
        if b"PuTTY-User-Key-File-" in data:
            yield from self._ppk(data)
        if b"kty" in data:
            yield from self._jwk(data)

    @staticmethod
    def _pem(data: bytes) -> Iterator[Hit]:
        # Anchored on the literal (a regex tried at every dash of a Markdown file is slow):
        # both armours put five bytes ("-----" or "---- ") before "BEGIN ".
        starts = (i - 5 for i in find_all(data, b"BEGIN ") if i >= 5)
        for begin in filter(None, (_PEM_BEGIN.match(data, start) for start in starts)):
            position = begin.end()
            for _ in range(6):
                header = _PEM_HEADER.match(data, position)
                if header is None:
                    break
                position = header.end()
            body = _PEM_BODY.match(data, position)
            if body is None:
                continue
            base64_body = _PEM_NOT_BASE64.sub(b"", body.group())
            if len(base64_body) < _PEM_MIN_BODY:
                continue
            value = base64_body.decode()
            label = begin.group().decode()
            shown = f"{label} …({len(value)} base64 chars)"
            yield Hit(begin.start(), value, shown, is_documentation_example(value))

    @staticmethod
    def _ppk(data: bytes) -> Iterator[Hit]:
        for head in _PPK.finditer(data):
            private = _PPK_PRIVATE.search(data, head.end(), head.end() + _PPK_REACH)
            if private is None:
                continue
            lines = data[private.end() :].split(b"\n", int(private.group(1)))
            body = b"".join(line.strip() for line in lines[: int(private.group(1))])
            if len(body) < 16 or _PEM_NOT_BASE64.search(body):
                continue
            value = body.decode()
            shown = f"PuTTY-User-Key-File-{head.group(1).decode()} …({len(value)} base64 chars)"
            yield Hit(head.start(), value, shown, is_documentation_example(value))

    @staticmethod
    def _jwk(data: bytes) -> Iterator[Hit]:
        seen: set[int] = set()
        for kty in find_all(data, b"kty"):
            if data[kty - 1 : kty] not in (b'"', b"'"):
                continue
            opening = data.rfind(b"{", max(0, kty - _JWK_REACH), kty)
            if opening < 0:
                continue
            closing = data.find(b"}", kty, kty + _JWK_REACH)
            # unclosed within reach: search that far only (to the end of the file, once per
            # "kty" of a file of them, was quadratic)
            closing = min(len(data), kty + _JWK_REACH) if closing < 0 else closing
            nested = data.find(b"{", kty, closing)  # a JWK is flat: another object ends it
            closing = closing if nested < 0 else nested
            member = _JWK_D.search(data, opening, closing)
            if member is None or member.start(1) in seen:
                continue
            seen.add(member.start(1))
            value = member.group(1).decode()
            shown = f"private JWK 'd' …({len(value)} chars)"
            yield Hit(opening, value, shown, is_documentation_example(value))
