"""HS256 signing secrets: ``JWT_SECRETS`` maps, ``jwt_secrets.json`` documents, JWT secret names.

HS256 secrets have no shape of their own, so every rule here is about where a string stands:

* values of a ``JWT_SECRETS`` map (JSON, Python, YAML, ``.env``/shell JSON strings, the JSON
  value of a Kubernetes/ECS ``name: JWT_SECRETS`` / ``value:`` pair), and every key-id ->
  secret pair of a file named ``jwt_secrets*.json``;
* values assigned to a JWT secret name (``JWT_SECRET``, ``jwt_signing_key``, ``jwtSecret`` ...,
  but not ``JWT_SECRET_ID``);
* a literal key passed to ``jwt.encode(payload, "...")`` / ``jwt.decode(token, "...")``;
* ``secret`` / ``signing_key`` / ``key`` entries nested under a ``jwt`` section (YAML, JSON).

A value counts when it could be a secret: at least 12 characters (8 as a literal
``jwt.encode`` key), no whitespace, 6+ distinct characters, and not a template, a reference
(``${VAR}``, ``env:``, ``arn:``, a dotted name) or a placeholder word (``changeme``, ``example``).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator

from erp.scan._assign import SEPARATOR, VALUE_MEMBER
from erp.scan._base import Detector, Hit, redact
from erp.scan._text import Text, find_all
from erp.scan.rules import is_documentation_example, shannon_bits

__all__ = ["JwtSigningSecret"]

_MAP_NAME = re.compile(rb"jwt_?secrets(?![a-z0-9_])")
_MAP_OPEN = re.compile(
    rb"[\"'`\]]*[ \t]*(?:=>|:=|=|:|,|\()?[ \t]*(?:[\w.]+\()?[ \t]*(?:[rbfuRBFU]{0,2}[\"'])?"
    rb"[ \t]*(?:(\{)|(?=\r?\n))"
)
# JWT_SECRETS as the name of a name/value pair whose value is the JSON map: Kubernetes
# `- name: JWT_SECRETS` / `value: '{...}'`, ECS {"name": "JWT_SECRETS", "value": "{...}"}.
# Matched on the lower-case copy; ends at the map's opening brace.
_MAP_VALUE = re.compile(
    VALUE_MEMBER + rb"[ \t]*(?:[|>][-+]?[ \t]*\r?\n[ \t]*)?(?:\\{0,3}[\"'`])?[ \t]*\{"
)
_BRACE = re.compile(rb"[{}]")
_PAIR = re.compile(rb"(\\?[\"'])([^\"'\\\n]{1,200})\1[ \t]*:[ \t]*(\\?[\"'])([^\"'\\\n]{0,600})\3")
_YAML_PAIR = re.compile(
    rb"[ \t]+[\"']?([^\"':#\s][^\"':#\n]*?)[\"']?[ \t]*:[ \t]*[\"']?([^\"'\s#]+)[\"']?"
    rb"[ \t]*(?:#[^\n]*)?$",
    re.M,
)
_MAP_LIMIT = 65536
_NESTED_LINES = 40
_LINE_ENDS = (b"", b"\n", b"\r", b" ", b"\t")
# A bare value also ends at a CSV comma, an XML tag, or a "\n" escape (env text in JSON).
_BARE_ENDS = (*_LINE_ENDS, b",", b"<", b"\\")

# A JWT name: jwt_secret, JWT_SIGNING_KEY, jwtSecret, jwt.secret (Spring), SIMPLE_JWT's
# SIGNING_KEY, HASURA_GRAPHQL_JWT_SECRET ...
_NAME_TAIL = re.compile(rb"[a-z0-9_.-]*")
_MAX_NAME = 256  # longer is no name: read further, "jwt.jwt.jwt..." was quadratic
_WORD_BYTES = b"abcdefghijklmnopqrstuvwxyz0123456789_"
_WORD = frozenset(_WORD_BYTES)
_VALUE = re.compile(rb"([^\s\"'`#,;)}\]\\<]{8,512})")
_QUOTES = frozenset(b"\"'`")

# Literal keys of signing calls: PyJWT/Ruby jwt.encode/decode, Node jwt.sign/verify, Go
# SignedString([]byte("...")), Java Keys.hmacShaKeyFor("...".getBytes()), auth0
# Algorithm.HMAC256("..."), jjwt signWith(..., "..."). Matched on the lower-case copy.
# At most 256 pieces (a parenthesised or braced group is one): linear over a file of hints,
# where an unbounded argument ran to the end of the line from every one of them.
_ARGUMENT = rb"(?:[^,(){}\n\"']|\([^()\n]{0,4096}\)|\{[^{}\n]{0,4096}\}){0,256}?"
# Arguments may stand on lines of their own (black's layout), and Ruby leaves out the
# parentheses (JWT.encode payload, "...", "HS256").
# Blanks are taken possessively (*+, ++): with two quantifiers able to take the same run of
# blanks, a line of "jwt.encode" and thousands of spaces took seconds to fail to match.
_CALL = re.compile(
    rb"(?:jwt\.(?:encode|decode|sign|verify)(?:\(\s*+|[ \t]++)"
    + _ARGUMENT
    + rb",|signwith\(\s*+"
    + _ARGUMENT
    + rb",|signedstring\(|hmacshakeyfor\(|algorithm\.hmac(?:256|384|512)\()"
    rb"\s*+(?:key[ \t]*+=[ \t]*+)?(?:\[\]byte\(|new[ \t]++secretkeyspec\()?[ \t]*+[rbu]?"
    rb"([\"'`])([^\"'`\\\n]{8,512})\1"
)
_CALL_HINT = (b"jwt.", b"signwith(", b"signedstring(", b"hmacshakeyfor(", b"algorithm.hmac")
# Files without "jwt" are looked at only if one of these (fewer, shorter) stands in them.
_CALL_PREFILTER = (b"nwith(", b"dstring(", b"hmac")
# An object bound to a JWT name holds its secret in a key/secret member: Hasura's
# JWT_SECRET='{"type": "HS256", "key": "..."}', SIMPLE_JWT = {"SIGNING_KEY": "..."}, a YAML
# flow map jwt: {secret: ...}.
_OBJECT_OPEN = re.compile(rb"[\"'`\]]*[ \t]*(?:=>|:=|=|:)[ \t]*(?:\\?[\"'])?[ \t]*\{")
_MEMBER = re.compile(
    rb"\\{0,3}[\"']?(?:key|secret|signing_key|signing_secret|secret_key|hmac_key)\\{0,3}[\"']?"
    rb"[ \t]*(?::|=>|=)[ \t]*\\{0,3}([\"']?)([^\s\"'`,}\\]{8,512})"
)
_OBJECT_REACH = 4096
# TOML/INI sections: [jwt], [auth.jwt], [tool.jwt] ... with a secret = "..." line below.
_NEXT_HEADER = re.compile(rb"\n[ \t]*\[")
_SECTION = re.compile(rb"^[ \t]*\[+([\w.-]*jwt[\w.-]*)\]+[ \t]*\r?$", re.M)
_SECTION_CHILD = re.compile(
    rb"^[ \t]*(?:secret|signing_key|signing_secret|secret_key|key|hmac_key)[ \t]*[=:][ \t]*"
    rb"([\"']?)([^\s\"'#]{8,512})\1[ \t]*(?:#[^\n]*)?\r?$",
    re.M,
)

_NESTED_CHILD = re.compile(
    rb"^([ \t]+)[\"']?(?:secret|signing_key|signing_secret|secret_key|key|hmac_key|hmac_secret)"
    rb"[\"']?[ \t]*:[ \t]*[\"']?([^\s\"'#,]{12,512})[\"']?[ \t]*,?[ \t]*(?:#[^\n]*)?\r?$",
    re.M,
)
_PARENT = re.compile(rb"^([ \t]*)[\"']?([\w.-]+)[\"']?[ \t]*:[ \t]*\{?[ \t]*\r?$")

_KEY_NAME = re.compile(r"[a-z]+(?:[-_.][a-z]+)+")
"""A value made of lower-case words (``jwt-signing-key``) names a key (a Kubernetes Secret's
key, a vault field); it is not one."""
_PLACEHOLDERS = (
    "example", "placeholder", "changeme", "change-me", "change_me", "your-", "your_",
    "yoursecret", "redacted", "dummy", "xxxx", "****", "fake", "sample", "not-a-real",
    "not_a_real", "notreal", "replace", "todo",
)  # fmt: skip
_REFERENCES = (
    "env:", "vault:", "arn:", "ssm:", "file:", "http:", "https:", "/", "./", "~", "op://",
    "secretsmanager:", "sops:", "ref+", "awssm:", "gcpsm:", "azkv:", "secret://",
)  # fmt: skip
_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
_SKIP_KEYS = frozenset(
    {"JWT_SECRET_ID", "JWT_KEYS", "state", "fingerprint", "created_at", "activated_at",
     "deactivated_at"}
)  # fmt: skip
# In source code a bare word after "=" is an expression, never a literal secret.
_CODE_SUFFIXES = (
    ".py", ".pyi", ".js", ".jsx", ".mjs", ".ts", ".tsx", ".go", ".rb", ".java", ".kt", ".scala",
    ".rs", ".c", ".h", ".cc", ".cpp", ".cs", ".php", ".swift", ".m", ".lua", ".pl",
)  # fmt: skip
_YAML_MAP_HEAD = re.compile(rb"[ \t]*(?:- )?[\"']?jwt_?secrets[\"']?[ \t]*:")


def _has_placeholder(value: str, low: str) -> bool:
    """A placeholder word written as a word (one case), in a value that is not random text.

    A random 64-character secret holds "tOdo" or "Fake" by chance now and then: neither a
    mixed-case occurrence nor a high-entropy value makes a placeholder.
    """
    if len(value) >= 24 and shannon_bits(value) >= 4.3:
        return False
    for word in _PLACEHOLDERS:
        start = low.find(word)
        while start >= 0:
            written = value[start : start + len(word)]
            if written.islower() or written.isupper() or written.istitle() or not written.isalpha():
                return True
            start = low.find(word, start + 1)
    return False


def could_be_secret(value: str, *, min_length: int = 12, quoted: bool = True) -> bool:
    """Whether a string standing where a JWT secret goes could be one (see module docstring)."""
    if not min_length <= len(value) <= 512 or any(c.isspace() for c in value):
        return False
    if value[0] in "$%{<&*!@" or "${" in value or "{{" in value:
        return False
    low = value.lower()
    if low.startswith(_REFERENCES) or _has_placeholder(value, low):
        return False
    if len(set(value)) < 6 or _KEY_NAME.fullmatch(value):
        return False
    if not quoted:
        # Bare words are secrets only in .env/YAML files, and never a variable or a dotted name.
        if _DOTTED.fullmatch(value) or "(" in value or "[" in value:
            return False
        mixed_case = any(c.isupper() for c in value) and any(c.islower() for c in value)
        if not any(c.isdigit() for c in value) and not (
            mixed_case and len(value) >= 16 and shannon_bits(value) >= 3.5
        ):
            return False
    return True


class JwtSigningSecret(Detector):
    name = "JWT Signing Secret"
    slug = "jwt-secret"
    plugin = "ErpJwtSecretDetector"
    summary = (
        "HS256 secrets in JWT_SECRETS maps, jwt_secrets.json files, JWT secret assignments, "
        "jwt.encode/decode literal keys and jwt: sections"
    )

    def find(self, text: Text) -> Iterator[Hit]:
        lower = text.lower
        named_file = fnmatch.fnmatch(text.name.lower(), "jwt_secrets*.json")
        if not named_file and b"jwt" not in lower and not any(h in lower for h in _CALL_PREFILTER):
            return
        seen: set[int] = set()
        candidates: list[tuple[int, bytes, int, bool]] = []
        candidates += self._maps(text)
        if named_file and not _MAP_NAME.search(lower):
            candidates += self._pairs(text.data, 0, len(text.data))
        candidates += self._names(text)
        for hint in _CALL_HINT:
            for index in find_all(lower, hint):
                call = _CALL.match(lower, index)
                if call is not None:
                    candidates.append(
                        (call.start(2), text.data[call.start(2) : call.end(2)], 8, True)
                    )
        candidates += self._nested(text)
        candidates += self._sections(text)
        for offset, raw, min_length, quoted in sorted(candidates, key=lambda c: c[0]):
            if offset in seen:
                continue
            value = raw.decode("utf-8", "replace")
            if not could_be_secret(value, min_length=min_length, quoted=quoted):
                continue
            seen.add(offset)
            yield Hit(offset, value, redact(value), is_documentation_example(value))

    @staticmethod
    def _pairs(data: bytes, start: int, end: int) -> list[tuple[int, bytes, int, bool]]:
        return [
            (m.start(4), m.group(4), 12, True)
            for m in _PAIR.finditer(data, start, end)
            if m.group(2).decode("utf-8", "replace") not in _SKIP_KEYS
        ]

    def _maps(self, text: Text) -> list[tuple[int, bytes, int, bool]]:
        data = text.data
        out: list[tuple[int, bytes, int, bool]] = []
        covered = -1  # end of the last map read: a name inside it was read with it
        for name in _MAP_NAME.finditer(text.lower):
            if name.start() < covered:
                continue  # (else a file of repeated unclosed maps is read once per name)
            opened = _MAP_OPEN.match(data, name.end())
            if opened is not None and opened.group(1) is not None:
                covered = _closing_brace(data, opened.start(1))
                out += self._pairs(data, opened.start(1), covered)
            elif opened is not None and _YAML_MAP_HEAD.match(text.line_at(name.start()).lower()):
                out += _yaml_block(text, name.start(), opened.end())
            else:
                member = _MAP_VALUE.match(text.lower, name.end())
                if member is not None:
                    brace = member.end() - 1
                    covered = _closing_brace(data, brace)
                    out += self._pairs(data, brace, covered)
        return out

    @staticmethod
    def _names(text: Text) -> list[tuple[int, bytes, int, bool]]:
        data, lower = text.data, text.lower
        out: list[tuple[int, bytes, int, bool]] = []
        bare_ok = not text.name.lower().endswith(_CODE_SUFFIXES)
        for start, name_end in _jwt_names(lower):
            ident = lower[start:name_end].rstrip(b"_-.")
            if b"public" in ident or _MAP_NAME.fullmatch(ident):
                continue
            opened = _OBJECT_OPEN.match(lower, name_end)
            if opened is not None:
                out += _object_members(data, lower, opened.end() - 1)
                continue
            if not ident.endswith((b"secret", b"key")):
                continue
            separator = SEPARATOR.match(lower, name_end)
            if separator is None:
                continue
            value = _VALUE.match(data, separator.end())
            if value is None:
                continue
            quote = data[separator.end() - 1] if separator.end() > name_end else 0
            after = data[value.end(1) : value.end(1) + 1]
            if quote in _QUOTES:
                closing = data[value.end(1) : value.end(1) + 4].lstrip(b"\\")[:1]
                if closing != bytes([quote]):
                    continue
            elif not bare_ok or after not in _BARE_ENDS:
                continue
            out.append((value.start(1), value.group(1), 12, quote in _QUOTES))
        return out

    @staticmethod
    def _sections(text: Text) -> list[tuple[int, bytes, int, bool]]:
        if b"[" not in text.data:
            return []
        data, lower = text.data, text.lower
        out: list[tuple[int, bytes, int, bool]] = []
        headers = {text.line_start(i) for i in find_all(lower, b"jwt")}
        for line_start in sorted(headers):
            section = _SECTION.match(lower, line_start, text.line_end(line_start) + 1)
            if section is None:
                continue
            # up to the next header, indented or not (else every " [jwt]" line of a file of
            # them would be read to the end of the file)
            following = _NEXT_HEADER.search(data, section.end())
            end = len(data) if following is None else following.start()
            out += [
                (m.start(2), m.group(2), 12, bool(m.group(1)))
                for m in _SECTION_CHILD.finditer(data, section.end(), end)
            ]
        return out

    @staticmethod
    def _nested(text: Text) -> list[tuple[int, bytes, int, bool]]:
        """Direct children (``secret:``, ``signing_key:`` ...) of a ``jwt``-named YAML key."""
        data = text.data
        size = len(data)
        out: list[tuple[int, bytes, int, bool]] = []
        parents = {text.line_start(i) for i in find_all(text.lower, b"jwt")}
        for parent_start in sorted(parents):
            parent = _PARENT.match(data[parent_start : text.line_end(parent_start)])
            if parent is None or b"jwt" not in parent.group(2).lower():
                continue
            indent = len(parent.group(1).expandtabs())
            child_indent = -1
            start = text.line_end(parent_start) + 1
            for _ in range(_NESTED_LINES):
                if start >= size:
                    break
                end = text.line_end(start)
                line = data[start:end]
                stripped = line.lstrip(b" \t")
                if stripped.strip() and not stripped.startswith(b"#"):
                    depth = len(line.expandtabs()) - len(line.expandtabs().lstrip(b" "))
                    if depth <= indent or (child_indent >= 0 and depth < child_indent):
                        break
                    child_indent = depth if child_indent < 0 else child_indent
                    child = _NESTED_CHILD.match(data, start, end) if depth == child_indent else None
                    if child is not None:
                        quoted = data[child.start(2) - 1 : child.start(2)] in (b'"', b"'")
                        out.append((child.start(2), child.group(2), 12, quoted))
                start = end + 1
        return out


def _jwt_names(lower: bytes) -> Iterator[tuple[int, int]]:
    """(start, end) of each name holding ``jwt``: ``jwt_secret``, ``hasura_graphql_jwt_secret``,
    ``jwt.secret``; not ``foojwt`` (a word that only contains it)."""
    # Linear in the text: a run of word characters holding "jwt" many times ("jwtjwtjwt...",
    # an attacker's file) is walked back and forward once, not once per occurrence.
    last_index, last_start, last_end, shown = -1, 0, -1, (-1, -1)
    for index in find_all(lower, b"jwt"):
        if last_index >= 0 and not lower[last_index:index].translate(None, _WORD_BYTES):
            start = last_start  # same run of word characters as the previous occurrence
        else:
            start = index
            while start and lower[start - 1] in _WORD:
                start -= 1
        last_index, last_start = index, start
        if start != index and lower[index - 1] != ord("_"):
            continue
        if index - start > _MAX_NAME:
            continue  # no variable's name: a run of word characters such as "jwtjwtjwt..."
        if index + 3 > last_end:
            tail = _NAME_TAIL.match(lower, index + 3)
            last_end = tail.end() if tail else index + 3
        end = min(last_end, index + 3 + _MAX_NAME)
        if (start, end) != shown:
            shown = (start, end)
            yield shown


def _object_members(data: bytes, lower: bytes, opening: int) -> list[tuple[int, bytes, int, bool]]:
    """Key/secret members of the object opening at ``opening`` (``lower``: ``data`` lower-cased)."""
    end = _closing_brace(data, opening, _OBJECT_REACH)
    return [
        (m.start(2), data[m.start(2) : m.end(2)], 12, bool(m.group(1)))
        for m in _MEMBER.finditer(lower, opening, end)
    ]


def _closing_brace(data: bytes, start: int, reach: int = _MAP_LIMIT) -> int:
    depth = 0
    limit = min(len(data), start + reach)
    for brace in _BRACE.finditer(data, start, limit):
        depth += 1 if brace.group() == b"{" else -1
        if depth == 0:
            return brace.end()
    return limit


def _yaml_block(text: Text, name_start: int, body_start: int) -> list[tuple[int, bytes, int, bool]]:
    """``key: value`` lines indented deeper than the ``JWT_SECRETS:`` line."""
    data = text.data
    head = text.line_at(name_start)
    indent = len(head) - len(head.lstrip(b" \t"))
    out: list[tuple[int, bytes, int, bool]] = []
    position = data.find(b"\n", body_start)
    while 0 <= position < len(data):
        line_start = position + 1
        line_end = text.line_end(line_start)
        line = data[line_start:line_end]
        stripped = line.strip()
        if stripped and not stripped.startswith(b"#"):
            if len(line) - len(line.lstrip(b" \t")) <= indent:
                break
            pair = _YAML_PAIR.match(data, line_start, line_end)
            if pair is not None:
                quoted = data[pair.start(2) - 1 : pair.start(2)] in (b'"', b"'")
                out.append((pair.start(2), pair.group(2), 12, quoted))
        position = line_end if line_end < len(data) else -1
    return out
