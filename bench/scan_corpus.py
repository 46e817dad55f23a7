"""Labelled corpus for the secret scanners, and their precision and recall on it.

Run: ``python -m bench.scan_corpus`` (``--quick`` for a small corpus, ``--keep DIR`` to keep
the tree). The corpus is generated in this run (nothing secret-looking is committed): Python
standard-library source and generated config/docs as filler, true secrets of every kind the
project claims planted in many file types and contexts, and labelled look-alikes that are not
secrets (UUIDs, digests, lock-file integrity hashes, base64 images, certificates, documentation
examples, templated ARNs, ...). Three scanners run on the same tree: ``erp-secrets scan``,
detect-secrets with the project's configuration (the pre-commit hook), and plain
detect-secrets (its defaults). Targets: recall 1.0 per kind, precision >= 0.95.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import random
import sys
import sysconfig
import tempfile
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from erp.scan import scan_files, testing
from erp.scan.detectors import DETECTORS, by_name
from erp.scan.ds_config import PLUGIN_FILE, settings

__all__ = [
    "Corpus",
    "Label",
    "Score",
    "generate",
    "main",
    "project_config",
    "run_detect_secrets",
    "run_erp",
    "score_any_type",
    "score_by_kind",
]

KINDS = [d.slug for d in DETECTORS]

# --- values --------------------------------------------------------------------------------


def _values(rng: random.Random) -> dict[str, str]:
    """One fresh value per placeholder used by the templates."""
    pem = testing.private_key_pem(rng)
    sri = ""
    while not sri or "+" in sri or "/" in sri:  # the hard case: Fernet-shaped digests
        sri = base64.b64encode(rng.randbytes(32)).decode()
    account = testing.aws_account(rng)
    certificate = uuid.UUID(int=rng.getrandbits(128))
    image = b"\x89PNG\r\n\x1a\n" + rng.randbytes(rng.randint(300, 900))
    day = f"2026{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    return {
        # positives
        "fernet": testing.fernet_key(rng),
        "fernet2": testing.fernet_key(rng),
        "jwt": testing.jwt_secret(rng),
        "jwt2": testing.jwt_secret(rng),
        "weak_jwt": rng.choice(["hunter2", "s3cr3t!", "letmein9", "p4ssw0rd"]) * 2,
        "arn": testing.aws_arn(rng),
        "arn_sm": testing.aws_arn(rng, service="secretsmanager"),
        "arn_cn": testing.aws_arn(rng, partition="aws-cn", service="secretsmanager"),
        "arn_gov": testing.aws_arn(rng, partition="aws-us-gov"),
        "arn_acm": f"arn:aws:acm:eu-west-1:{account}:certificate/{certificate}",
        "akia": testing.access_key_id(rng),
        "asia": testing.access_key_id(rng, prefix="ASIA"),
        "secret": testing.secret_access_key(rng),
        "pem_repr": repr(pem),
        "pem_json": json.dumps(pem),
        "pd": testing.pagerduty_routing_key(rng),
        "slack": testing.slack_webhook_url(rng),
        # look-alikes
        "uuid": str(uuid.UUID(int=rng.getrandbits(128))),
        "sha256": rng.randbytes(32).hex(),
        "sha1": rng.randbytes(20).hex(),
        "md5": rng.randbytes(16).hex(),
        "hex16": rng.randbytes(8).hex(),
        "sri256": sri,
        "sri512": base64.b64encode(rng.randbytes(64)).decode(),
        "b64img": base64.b64encode(image).decode(),
        "token43": base64.urlsafe_b64encode(rng.randbytes(32)).decode().rstrip("="),
        "kid": f"k-{day}T120000Z-{rng.randbytes(3).hex()}",
        "word": rng.choice(["alpha", "orders", "billing", "ledger", "invoices"]),
    }  # fmt: skip


# Placeholders whose line is a true secret of a kind.
_POSITIVE = {
    "fernet": "fernet-key", "fernet2": "fernet-key",
    "jwt": "jwt-secret", "jwt2": "jwt-secret", "weak_jwt": "jwt-secret",
    "arn": "aws-arn", "arn_sm": "aws-arn", "arn_cn": "aws-arn", "arn_gov": "aws-arn",
    "arn_acm": "aws-arn",
    "akia": "aws-access-key-id", "asia": "aws-access-key-id",
    "secret": "aws-secret-access-key",
    "pem_repr": "private-key", "pem_json": "private-key",
    "pd": "pagerduty-routing-key", "slack": "slack-webhook",
}  # fmt: skip

# --- templates: (file kind, lines); a line holding {placeholder} is labelled by it ------------

POSITIVES: list[tuple[str, list[str]]] = [
    ("py", ['FERNET_KEY = "{fernet}"']),
    ("py", ['cipher = Fernet(b"{fernet}")']),
    ("py", ['cipher = MultiFernet([Fernet("{fernet}"), Fernet("{fernet2}")])']),
    ("py", ["JWT_SECRETS = {{", '    "k-1": "{jwt}",', '    "k-2": "{jwt2}",', "}}"]),
    ("py", ['JWT_SECRET = "{jwt}"']),
    ("py", ['token = jwt.encode(claims, "{weak_jwt}", algorithm="HS256")']),
    ("py", ['creds = sts.assume_role(RoleArn="{arn}", RoleSessionName="ci")']),
    ("py", ['SECRET_ID = "{arn_sm}"']),
    ("py", ['client = boto3.client("s3", aws_access_key_id="{akia}", '
            'aws_secret_access_key="{secret}")']),
    ("py", ['session = boto3.Session("{asia}", "{secret}")']),
    ("py", ["DEPLOY_KEY = {pem_repr}"]),
    ("py", ['send_event(routing_key="{pd}", summary="JWT key overdue")']),
    ("py", ['SLACK_WEBHOOK = "{slack}"']),
    ("env", ["FERNET_KEY={fernet}"]),
    ("env", ["JWT_SECRETS='{{\"k-1\": \"{jwt}\", \"k-2\": \"{jwt2}\"}}'"]),
    ("env", ["JWT_SECRET={jwt}"]),
    ("env", ["ERP_AWS_SECRET_ID={arn_sm}"]),
    ("env", ["AWS_ACCESS_KEY_ID={akia}", "AWS_SECRET_ACCESS_KEY={secret}"]),
    ("env", ["PAGERDUTY_ROUTING_KEY={pd}"]),
    ("env", ["SLACK_WEBHOOK_URL={slack}"]),
    ("sh", ['export FERNET_KEY="{fernet}"']),
    ("sh", ['export JWT_SECRETS="{{\\"k-1\\": \\"{jwt}\\"}}"']),
    ("sh", ["aws sts assume-role --role-arn {arn} --role-session-name ci"]),
    ("sh", ["export AWS_ACCESS_KEY_ID={akia}", "export AWS_SECRET_ACCESS_KEY={secret}"]),
    ("sh", ["curl -X POST -H 'Content-type: application/json' --data @msg.json {slack}"]),
    ("json", ['  "fernet_key": "{fernet}",']),
    ("json", ['  "JWT_SECRETS": {{"k-1": "{jwt}", "k-2": "{jwt2}"}},']),
    ("json", ['  "Resource": "{arn_cn}",']),
    ("json", ['  "CertificateArn": "{arn_acm}",']),
    ("json", ['  "AccessKeyId": "{asia}",', '  "SecretAccessKey": "{secret}",']),
    ("json", ['  "private_key": {pem_json},']),
    ("json", ['  "routing_key": "{pd}",']),
    ("json", ['  "webhook_url": "{slack}",']),
    ("yaml", ["fernet:", "  key: {fernet}"]),
    ("yaml", ["JWT_SECRETS:", "  k-1: {jwt}", '  k-2: "{jwt2}"']),
    ("yaml", ["jwt:", '  signing_key: "{jwt}"', "  ttl_seconds: 3600"]),
    ("yaml", ["role_arn: {arn_gov}"]),
    ("yaml", ["targets:", "  - {arn_cn}"]),
    ("yaml", ["aws_access_key_id: {akia}", "aws_secret_access_key: {secret}"]),
    ("yaml", ["pagerduty:", "  integration_key: {pd}"]),
    ("yaml", ["slack_webhook: {slack}"]),
    ("ini", ["[default]", "aws_access_key_id = {akia}", "aws_secret_access_key = {secret}"]),
    ("tf", ['provider "aws" {{', '  access_key = "{akia}"', '  secret_key = "{secret}"',
            "}}"]),
    ("tf", ['  role_arn = "{arn}"']),
    ("js", ['const fernetKey = "{fernet}";']),
    ("js", ['const jwtSecret = "{jwt}";']),
    ("js", ['const s3 = new S3({{ accessKeyId: "{akia}", secretAccessKey: "{secret}" }});']),
    ("js", ['const hook = "{slack}";']),
    ("md", ["Deploy with the role `{arn}`."]),
    ("md", ["```", "FERNET_KEY={fernet}", "```"]),
    ("md", ["Alerts go to <{slack}>."]),
    ("toml", ['fernet_key = "{fernet}"', 'jwt_secret = "{jwt}"', 'routing_key = "{pd}"']),
    ("Dockerfile", ["ENV FERNET_KEY={fernet}", "ENV JWT_SECRET={jwt}"]),
    ("csv", ["deploy,{akia},{secret}"]),
]  # fmt: skip

NEGATIVES: list[tuple[str, str, list[str]]] = [
    ("uuid", "py", ['request_id = "{uuid}"']),
    ("sha256 hex", "py", ['checksum = "{sha256}"']),
    ("md5 etag", "py", ['ETAG = "{md5}"']),
    ("git sha", "md", ["Fixed in commit {sha1}."]),
    ("43-char token", "py", ['csrf_state = "{token43}"']),
    ("key id (kid)", "py", ['JWT_SECRET_ID = "{kid}"']),
    ("secret read from env", "py", ['JWT_SECRET = os.environ["JWT_SECRET"]']),
    ("map built in code", "py", ['doc["JWT_SECRETS"] = ring.secrets_map()']),
    ("templated arn", "py", ['role = f"arn:aws:iam::{{account}}:role/deploy"']),
    ("fernet from get_secret", "py", ['cipher = Fernet(get_secret("FERNET_KEY"))']),
    ("amqp routing key", "py", ['channel.basic_publish(exchange="", routing_key="{word}")']),
    ("pagerduty dedup key", "py", ['event = {{"dedup_key": "{md5}"}}']),
    ("pem header in code", "py", ['if text.startswith("-----BEGIN " "PRIVATE KEY-----"):']),
    ("named b64 digest", "py", ['digest = "{sri256}"']),
    ("docs arn", "md", ["Example: `arn:aws:iam::123456789012:role/deploy`."]),
    ("docs arn 2", "md", ["Subscribe `arn:aws:sns:us-east-1:111122223333:alerts`."]),
    ("docs access key", "md", ["aws_access_key_id = AKIA" "IOSFODNN7EXAMPLE"]),
    ("docs secret key", "md", ["aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"]),
    ("docs webhook", "md", ["https://hooks.slack.com/services/T00000000/B00000000/"
                            "XXXXXXXXXXXXXXXXXXXXXXXX"]),
    ("base64 image", "md", ["![logo](data:image/png;base64,{b64img})"]),
    ("base64 image css", "css", ["  background: url(data:image/png;base64,{b64img});"]),
    ("sri sha512", "lock", ['      "integrity": "sha512-{sri512}",']),
    ("sri sha256", "lock", ['      "integrity": "sha256-{sri256}",']),
    ("cfn templated arn", "yaml",
     ["  RoleArn: !Sub arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/rotation"]),
    ("managed policy arn", "yaml", ["  - arn:aws:iam::aws:policy/SecretsManagerReadWrite"]),
    ("bucket arn", "yaml", ["  Resource: arn:aws:s3:::erp-artifacts/*"]),
    ("zero account arn", "yaml", ["  queue: arn:aws:sqs:eu-west-1:000000000000:jobs"]),
    ("fingerprint", "json", ['  "fingerprint": "sha256:{hex16}",']),
    ("kid in json", "json", ['  "JWT_SECRET_ID": "{kid}",']),
    ("jwt map placeholder", "json", ['  "JWT_SECRETS": {{"k-1": "change-me-before-deploy"}},']),
    ("jwt map template", "yaml", ['JWT_SECRETS: {{"k-1": "${{JWT_SIGNING_SECRET}}"}}']),
    ("docs key id in env", "env", ["AWS_ACCESS_KEY_ID=AKIA" "IOSFODNN7EXAMPLE"]),
    ("kid in env", "env", ["JWT_SECRET_ID={kid}"]),
    ("templated env value", "env", ["FERNET_KEY=${{FERNET_KEY}}"]),
    ("docs arn in env", "env",
     ["ERP_AWS_SECRET_ID=arn:aws:secretsmanager:us-east-1:123456789012:secret:erp/jwt"]),
    ("secret from a command", "sh", ['export JWT_SECRET="$(vault read -field=value secret/jwt)"']),
    ("docs arn in shell", "sh",
     ["aws sts assume-role --role-arn arn:aws:iam::123456789012:role/ci"]),
    ("sha256sum output", "sh", ["echo '{sha256}  erp-lambda.zip' | sha256sum -c"]),
    ("docs keys in ini", "ini", ["aws_access_key_id = AKIA" "IOSFODNN7EXAMPLE"]),
    ("templated arn in tf", "tf", ['  role_arn = "arn:aws:iam::${{var.account_id}}:role/deploy"']),
    ("source code hash", "tf", ['  source_code_hash = "{sri256}"']),
    ("sri in js", "js", ['const integrity = "sha384-{sri512}";']),
    ("uuid in js", "js", ['const requestId = "{uuid}";']),
    ("lock hash in toml", "toml", ['hash = "sha256:{sha256}"']),
    ("image digest", "Dockerfile", ["FROM python@sha256:{sha256}"]),
    ("uuid rows", "csv", ["{uuid},{md5},{word}"]),
]  # fmt: skip

_EXTENSIONS = {
    "py": ".py", "env": ".env", "sh": ".sh", "json": ".json", "yaml": ".yaml", "ini": ".ini",
    "tf": ".tf", "js": ".js", "md": ".md", "toml": ".toml", "Dockerfile": "", "csv": ".csv",
    "css": ".css", "lock": ".json",
}  # fmt: skip
_NAMES = {"Dockerfile": "Dockerfile", "lock": "package-lock", "env": "settings"}

# --- filler --------------------------------------------------------------------------------


def _stdlib_lines() -> list[list[str]]:
    """Source lines of the standard library (no tests, no site-packages), one list per file."""
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"site-packages", "test", "tests", "idlelib", "lib2to3", "turtledemo", "ensurepip"}
    out = []
    for path in sorted(root.rglob("*.py")):
        if skip & set(path.relative_to(root).parts):
            continue
        with contextlib.suppress(OSError, UnicodeDecodeError):
            out.append(path.read_text(encoding="utf-8").splitlines())
    return [lines for lines in out if len(lines) > 20]


_WORDS = [
    "rotation", "key", "vault", "secret", "ledger", "invoice", "customer", "order", "region",
    "bucket", "queue", "topic", "service", "deploy", "cluster", "replica", "timeout", "retry",
    "backoff", "token", "session", "policy", "role", "stage", "primary", "standby", "audit",
    "report", "metric", "alarm", "schedule", "window", "batch", "worker", "checkpoint",
]  # fmt: skip


def _word(rng: random.Random) -> str:
    return rng.choice(_WORDS)


def _filler(kind: str, rng: random.Random, stdlib: list[list[str]], size: int) -> list[str]:
    """About ``size`` bytes of ordinary content for a file of ``kind``."""
    lines: list[str] = []
    total = 0
    while total < size:
        if kind == "py":
            source = rng.choice(stdlib)
            start = rng.randrange(0, max(1, len(source) - 40))
            chunk = source[start : start + rng.randint(20, 120)]
        elif kind in ("json", "lock"):
            chunk = [f'  "{_word(rng)}_{i}": {json.dumps(rng.choice([_word(rng), i, True]))},'
                     for i in range(rng.randint(5, 30))]  # fmt: skip
        elif kind == "yaml":
            chunk = [f"{_word(rng)}:"] + [
                f"  {_word(rng)}_{i}: {rng.choice([_word(rng), str(i), 'true'])}"
                for i in range(rng.randint(3, 15))
            ]
        elif kind in ("env", "sh", "Dockerfile", "ini", "toml"):
            count = rng.randint(3, 15)
            chunk = [f"{_word(rng).upper()}_{i}={_word(rng)}-{i}" for i in range(count)]
        elif kind == "md":
            chunk = [f"## {_word(rng).title()} {_word(rng)}", ""] + [
                " ".join(_word(rng) for _ in range(rng.randint(8, 16))) + "."
                for _ in range(rng.randint(2, 8))
            ]
        elif kind == "csv":
            chunk = [",".join([_word(rng), str(rng.randint(1, 10**6)), _word(rng)])
                     for _ in range(rng.randint(5, 30))]  # fmt: skip
        else:  # js, tf, css
            chunk = [f'  {_word(rng)}_{i} = "{_word(rng)}";' for i in range(rng.randint(5, 20))]
        lines += chunk
        total += sum(len(line) + 1 for line in chunk)
    return lines


# --- the corpus ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Label:
    """A labelled line: a true secret of ``kind`` (a detector slug) or a look-alike."""

    file: str
    line: int
    kind: str


@dataclass
class Corpus:
    """A generated tree and its labels."""

    root: Path
    files: list[str] = field(default_factory=list)
    positives: list[Label] = field(default_factory=list)
    negatives: list[Label] = field(default_factory=list)
    bytes: int = 0


def _render(template: list[str], values: dict[str, str]) -> list[tuple[str, list[str]]]:
    """Template lines as (text, placeholders on it)."""
    out = []
    for line in template:
        names = [n for n in values if "{" + n + "}" in line]
        out.append((line.format(**values), names))
    return out


def _pem_file(rng: random.Random) -> tuple[str, list[str]]:
    return "keys/" + f"deploy_{rng.randrange(10**6)}.pem", testing.private_key_pem(rng).splitlines()


def _vault_file(rng: random.Random) -> list[str]:
    ids = [f"k-20261{i}01T120000Z-{rng.randbytes(3).hex()}" for i in range(rng.randint(1, 3))]
    entries = [f'    "{kid}": "{testing.jwt_secret(rng)}"' for kid in ids]
    meta = [f'    "{kid}": {{"state": "active", "fingerprint": "sha256:{rng.randbytes(8).hex()}"}}'
            for kid in ids]  # fmt: skip
    return ["{", '  "JWT_SECRETS": {', ",\n".join(entries), "  },",
            f'  "JWT_SECRET_ID": "{ids[-1]}",', '  "JWT_KEYS": {', ",\n".join(meta), "  }",
            "}"]  # fmt: skip


def generate(
    root: Path,
    *,
    files: int,
    file_bytes: int = 10_000,
    seed: int = 20261125,
    plants_per_file: float = 2.0,
) -> Corpus:
    """Write ``files`` files under ``root``; about ``file_bytes`` each; labels returned."""
    rng = random.Random(seed)
    stdlib = _stdlib_lines()
    corpus = Corpus(root)
    by_kind: dict[str, list[list[str]]] = defaultdict(list)
    for kind, template in POSITIVES:
        by_kind[kind].append(template)
    negatives_by_kind: dict[str, list[tuple[str, list[str]]]] = defaultdict(list)
    for what, kind, template in NEGATIVES:
        negatives_by_kind[kind].append((what, template))
    kinds = sorted(_EXTENSIONS)
    positive_cycle = 0
    for index in range(files):
        special = rng.random()
        if special < 0.01:
            name, lines = _pem_file(rng)
            corpus.positives.append(Label(name, 1, "private-key"))
            _write(corpus, name, lines)
            continue
        if special < 0.02:
            name = f"config/{index}/jwt_secrets.json"
            lines = "\n".join(_vault_file(rng)).splitlines()
            corpus.positives += [Label(name, n, "jwt-secret")
                                 for n, line in enumerate(lines, 1)
                                 if line.startswith('    "k-') and "state" not in line]  # fmt: skip
            _write(corpus, name, lines)
            continue
        kind = kinds[index % len(kinds)]
        folder = f"{rng.choice(['app', 'deploy', 'docs', 'config', 'lib'])}/{index % 97}"
        name = f"{folder}/{_NAMES.get(kind, _word(rng))}_{index}{_EXTENSIONS[kind]}"
        if kind == "Dockerfile":
            name = f"{folder}/{index}/Dockerfile"
        lines = _filler(kind, rng, stdlib, int(rng.uniform(0.5, 1.5) * file_bytes))
        count = int(plants_per_file) + (rng.random() < plants_per_file % 1)
        labels: list[tuple[int, str]] = []  # (line, kind) in this file
        for _ in range(count):
            values = _values(rng)
            if by_kind.get(kind) and (rng.random() < 0.4 or not negatives_by_kind.get(kind)):
                templates = by_kind[kind]
                template = templates[positive_cycle % len(templates)]
                positive_cycle += 1
                what = ""
            elif negatives_by_kind.get(kind):
                what, template = rng.choice(negatives_by_kind[kind])
            else:
                continue
            at = rng.randrange(0, len(lines) + 1)
            rendered = _render(template, values)
            lines[at:at] = [text for text, _ in rendered]
            labels = [(n + len(rendered) if n > at else n, k) for n, k in labels]
            for offset, (_, names) in enumerate(rendered):
                if what:
                    labels.append((at + offset + 1, f"negative:{what}"))
                else:
                    labels += [(at + offset + 1, _POSITIVE[p]) for p in names if p in _POSITIVE]
        for line_number, label_kind in dict.fromkeys(labels):  # one label per line and kind
            target = corpus.negatives if label_kind.startswith("negative:") else corpus.positives
            target.append(Label(name, line_number, label_kind))
        _write(corpus, name, lines)
    return corpus


def _write(corpus: Corpus, name: str, lines: list[str]) -> None:
    path = corpus.root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(lines) + "\n").encode("utf-8")
    path.write_bytes(data)
    corpus.files.append(name)
    corpus.bytes += len(data)


# --- running the scanners ------------------------------------------------------------------

Found = list[tuple[str, int, str]]
"""(file, line, detector name or detect-secrets type)"""


def run_erp(corpus: Corpus, jobs: int = 0) -> Found:
    """erp-secrets scan over the corpus (no baseline)."""
    with contextlib.chdir(corpus.root):
        report = scan_files(corpus.files, jobs=jobs)
    return [(f.path, f.line, f.detector) for f in report.findings]


def project_config(builtins: bool = True) -> dict[str, Any]:
    """The hook's detect-secrets configuration (plugins by absolute path)."""
    config = settings("file://" + str(PLUGIN_FILE))
    if not builtins:
        config["plugins_used"] = [p for p in config["plugins_used"] if "path" in p]
    return config


def run_detect_secrets(corpus: Corpus, config: dict[str, Any] | None, cores: int = 2) -> Found:
    """detect-secrets over the corpus: ``config`` as a baseline's settings, None = defaults."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.core.secrets_collection import SecretsCollection
    from detect_secrets.settings import default_settings, transient_settings

    # detect-secrets caches the plugin classes it has seen, custom ones included: forget them
    # so that "plain" means its own plugins only.
    get_mapping_from_secret_type_to_class.cache_clear()
    configured = default_settings() if config is None else transient_settings(config)
    with contextlib.chdir(corpus.root), configured:
        collection = SecretsCollection(root=".")
        collection.scan_files(*corpus.files, num_processors=cores)
    get_mapping_from_secret_type_to_class.cache_clear()
    return [(os.path.normpath(s.filename), s.line_number, s.type) for _, s in collection]


# --- scoring -------------------------------------------------------------------------------


@dataclass
class Score:
    """Counts for one detector (or detect-secrets type) on one corpus."""

    labels: int = 0
    found_labels: int = 0
    true_findings: int = 0
    false_findings: int = 0
    false_on: Counter[str] = field(default_factory=Counter)

    @property
    def recall(self) -> float:
        return self.found_labels / self.labels if self.labels else float("nan")

    @property
    def precision(self) -> float:
        total = self.true_findings + self.false_findings
        return self.true_findings / total if total else float("nan")


def score_by_kind(corpus: Corpus, found: Found) -> dict[str, Score]:
    """Per detector slug; a finding counts only if its detector is the label's kind."""
    positives = {(p.file, p.line, p.kind) for p in corpus.positives}
    negatives = {(n.file, n.line): n.kind for n in corpus.negatives}
    scores: dict[str, Score] = {kind: Score() for kind in KINDS}
    for label in corpus.positives:
        scores[label.kind].labels += 1
    seen: set[tuple[str, int, str]] = set()
    for file, line, detector in found:
        try:
            kind = by_name(detector).slug
        except KeyError:
            kind = f"other: {detector}"
            scores.setdefault(kind, Score())
        if (file, line, kind) in positives:
            scores[kind].true_findings += 1
            seen.add((file, line, kind))
        else:
            scores[kind].false_findings += 1
            scores[kind].false_on[negatives.get((file, line), "filler")] += 1
    for kind in KINDS:
        scores[kind].found_labels = sum(1 for s in seen if s[2] == kind)
    return scores


def score_any_type(corpus: Corpus, found: Found) -> tuple[dict[str, Score], dict[str, Score]]:
    """Plain detect-secrets: recall per kind = any finding on the labelled line; precision per
    detect-secrets type = findings on a labelled secret's line."""
    on_line = {(f, n) for f, n, _ in found}
    recall: dict[str, Score] = {kind: Score() for kind in KINDS}
    for label in corpus.positives:
        recall[label.kind].labels += 1
        recall[label.kind].found_labels += (label.file, label.line) in on_line
    secret_lines = {(p.file, p.line) for p in corpus.positives}
    negatives = {(n.file, n.line): n.kind for n in corpus.negatives}
    by_type: dict[str, Score] = defaultdict(Score)
    for file, line, secret_type in found:
        if (file, line) in secret_lines:
            by_type[secret_type].true_findings += 1
        else:
            by_type[secret_type].false_findings += 1
            by_type[secret_type].false_on[negatives.get((file, line), "filler")] += 1
    return recall, dict(by_type)


def _fmt(value: float) -> str:
    return "-" if value != value else f"{value:.3f}"


def _worst(score: Score) -> str:
    return ", ".join(f"{what} ({n})" for what, n in score.false_on.most_common(3))


def report(corpus: Corpus, cores: int = 2) -> bool:
    """Print the accuracy tables; True if every target is met."""
    ours = score_by_kind(corpus, run_erp(corpus))
    hook = score_by_kind(corpus, run_detect_secrets(corpus, project_config(), cores))
    plain_recall, plain_types = score_any_type(corpus, run_detect_secrets(corpus, None, cores))
    print(f"\n### Accuracy on a generated corpus: {len(corpus.files)} files, "
          f"{corpus.bytes / 1e6:.1f} MB, {len(corpus.positives)} true secrets, "
          f"{len(corpus.negatives)} look-alikes\n")  # fmt: skip
    print(
        "| kind | secrets | erp-secrets scan P / R | detect-secrets + project plugins P / R "
        "| plain detect-secrets R (any type on the line) | target |"
    )
    print("|---|---|---|---|---|---|")
    ok = True
    for kind in KINDS:
        o, h, p = ours[kind], hook[kind], plain_recall[kind]
        ok &= o.recall == 1.0 and o.precision >= 0.95
        print(
            f"| {kind} | {o.labels} | {_fmt(o.precision)} / {_fmt(o.recall)} | "
            f"{_fmt(h.precision)} / {_fmt(h.recall)} | {_fmt(p.recall)} | P >= 0.95, R = 1 |"
        )
    others = {k: s for k, s in hook.items() if k.startswith("other: ")}
    for kind, score in sorted(others.items()):
        print(
            f"| ({kind[7:]}, built-in) | - | | {score.true_findings + score.false_findings}"
            f" findings | | |"
        )
    print(
        "\n| plain detect-secrets type | findings | on a true secret's line | precision "
        "| false positives mostly on |"
    )
    print("|---|---|---|---|---|")
    for secret_type, score in sorted(plain_types.items()):
        total = score.true_findings + score.false_findings
        print(
            f"| {secret_type} | {total} | {score.true_findings} | {_fmt(score.precision)} "
            f"| {_worst(score)} |"
        )
    misses = {k: _worst(s) for k, s in ours.items() if s.false_findings}
    if misses:
        print("\nerp-secrets scan false positives: "
              + "; ".join(f"{k}: {v}" for k, v in misses.items()))  # fmt: skip
    print(f"\nall targets met: {'yes' if ok else 'NO'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a small corpus (about 1 MB)")
    parser.add_argument("--files", type=int, default=None, help="number of files")
    parser.add_argument("--keep", type=Path, default=None, help="write the corpus here and keep it")
    parser.add_argument("--seed", type=int, default=20261125)
    args = parser.parse_args(argv)
    files = args.files or (100 if args.quick else 800)
    with contextlib.ExitStack() as stack:
        root = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        root.mkdir(parents=True, exist_ok=True)
        corpus = generate(root, files=files, file_bytes=6_000, seed=args.seed)
        if args.keep:
            labels = {"positives": [vars(p) for p in corpus.positives],
                      "negatives": [vars(n) for n in corpus.negatives]}  # fmt: skip
            (root / "labels.json").write_text(json.dumps(labels, indent=1), encoding="utf-8")
        ok = report(corpus, cores=min(2, os.cpu_count() or 1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
