"""Each detector finds its secret in the contexts it leaks in, and ignores look-alikes."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import uuid
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from erp.scan import find_secrets, scan_bytes, testing
from erp.scan.detectors import DETECTORS

from .conftest import call_argument_plants, plants


def hits(content: str, name: str = "example.py") -> list[tuple[str, int, str]]:
    """(detector slug, line, secret) of every non-example match."""
    return [
        (detector.slug, line, hit.value)
        for detector, line, hit in find_secrets(content.encode(), name)
        if not hit.example
    ]


def slugs(content: str, name: str = "example.py") -> set[str]:
    return {slug for slug, _, _ in hits(content, name)}


# --- positives, per kind -------------------------------------------------------------------

FERNET_CONTEXTS = [
    ("settings.py", 'FERNET_KEY = "{v}"'),
    (".env", "FERNET_KEY={v}"),
    ("run.sh", "export FERNET_KEY='{v}'"),
    ("config.json", '{{"fernet_key": "{v}"}}'),
    ("config.yaml", "fernet:\n  key: {v}"),
    ("crypt.py", 'cipher = Fernet(b"{v}")'),
    ("crypt.py", 'cipher = MultiFernet([Fernet("{v}")])'),
    ("Dockerfile", "ENV FERNET_KEY={v}"),
]


@pytest.mark.parametrize(("name", "template"), FERNET_CONTEXTS)
def test_fernet_key_is_found_in_every_context(name: str, template: str) -> None:
    """A Fernet key is reported with its line in code, env, shell, JSON, YAML and Dockerfiles."""
    key = testing.fernet_key()
    content = "# config\n" + template.format(v=key) + "\n"
    assert ("fernet-key", content.count("\n", 0, content.index(key)) + 1, key) in hits(
        content, name
    )


def test_two_fernet_keys_on_one_line_are_two_findings() -> None:
    """MultiFernet([Fernet(a), Fernet(b)]) reports both keys."""
    a, b = testing.fernet_key(), testing.fernet_key()
    found = hits(f'm = MultiFernet([Fernet("{a}"), Fernet("{b}")])\n')
    assert [("fernet-key", 1, a), ("fernet-key", 1, b)] == found


JWT_CONTEXTS = [
    ("jwt_secrets.json", '{{\n  "JWT_SECRETS": {{\n    "k-1": "{v}",\n    "k-2": "{w}"\n  }},\n'
     '  "JWT_SECRET_ID": "k-2",\n  "JWT_KEYS": {{"k-1": {{"state": "retiring",'
     ' "fingerprint": "sha256:0123456789abcdef"}}}}\n}}'),
    (".env", "JWT_SECRETS='{{\"k-1\": \"{v}\", \"k-2\": \"{w}\"}}'"),
    ("deploy.sh", 'export JWT_SECRETS="{{\\"k-1\\": \\"{v}\\", \\"k-2\\": \\"{w}\\"}}"'),
    ("values.yaml", "JWT_SECRETS:\n  k-1: {v}\n  k-2: \"{w}\"\nJWT_SECRET_ID: k-2"),
    ("settings.py", 'JWT_SECRETS = {{\n    "k-1": "{v}",\n    "k-2": "{w}",\n}}'),
    ("setup.py", 'os.environ["JWT_SECRETS"] = json.dumps({{"k-1": "{v}", "k-2": "{w}"}})'),
    ("jwt_secrets.json", '{{"k-1": "{v}", "k-2": "{w}"}}'),
]  # fmt: skip


@pytest.mark.parametrize(("name", "template"), JWT_CONTEXTS)
def test_every_secret_of_a_jwt_secrets_map_is_found(name: str, template: str) -> None:
    """Each value of a JWT_SECRETS map (JSON, .env, shell, YAML, Python, vault file) is reported."""
    v, w = testing.jwt_secret(), testing.jwt_secret()
    found = {(slug, value) for slug, _, value in hits(template.format(v=v, w=w), name)}
    assert {("jwt-secret", v), ("jwt-secret", w)} == found


@pytest.mark.parametrize(
    ("name", "template"),
    [
        ("settings.py", 'JWT_SECRET = "{v}"'),
        ("settings.py", 'app.config["JWT_SECRET_KEY"] = "{v}"'),
        ("app.py", "service = TokenService(jwt_signing_key='{v}')"),
        (".env", "JWT_SECRET={v}"),
        ("app.ts", 'const jwtSecret: string = "{v}";'),
        ("settings.py", 'jwt_secret: str = "{v}"'),
        ("app.py", 'token = jwt.encode(payload, "{v}", algorithm="HS256")'),
        ("app.py", 'claims = jwt.decode(token, key="{v}", algorithms=["HS256"])'),
        ("app.py", 'token = jwt.encode(\n    payload,\n    "{v}",\n    algorithm="HS256",\n)'),
        ("app.rb", 'token = JWT.encode payload, "{v}", "HS256"'),
        ("config.yaml", 'auth:\n  jwt:\n    signing_key: "{v}"\n    ttl: 3600'),
        ("config.json", '{{\n  "jwt": {{\n    "secret": "{v}"\n  }}\n}}'),
    ],
)
def test_jwt_secret_assigned_to_a_jwt_name_is_found(name: str, template: str) -> None:
    """JWT_SECRET assignments, jwt.encode/decode literal keys and jwt: sections are reported."""
    value = testing.jwt_secret()
    assert [("jwt-secret", value)] == [(s, v) for s, _, v in hits(template.format(v=value), name)]


def test_short_literal_jwt_encode_key_is_found() -> None:
    """jwt.encode(payload, "<14-character password>") is caught (plain detect-secrets misses it)."""
    weak = "hunter2" * 2
    assert slugs(f'token = jwt.encode(payload, "{weak}")\n') == {"jwt-secret"}


@pytest.mark.parametrize("partition", ["aws", "aws-cn", "aws-us-gov"])
@pytest.mark.parametrize("service", ["iam", "secretsmanager"])
def test_arn_with_an_account_is_found_in_every_partition(partition: str, service: str) -> None:
    """ARNs naming an account are reported in the aws, aws-cn and aws-us-gov partitions."""
    arn = testing.aws_arn(partition=partition, service=service)
    assert [("aws-arn", 2, arn)] == hits(f"resources:\n  - {arn}\n", "policy.yaml")


def test_arn_whose_resource_is_a_uuid_is_found() -> None:
    """An ACM certificate ARN (UUID resource id) is reported; detect-secrets' UUID filter is off."""
    arn = f"arn:aws:acm:eu-west-1:{testing.aws_account()}:certificate/{uuid.uuid4()}"
    assert [("aws-arn", 1, arn)] == hits(f'{{"CertificateArn": "{arn}"}}', "stack.json")


@pytest.mark.parametrize("prefix", ["AKIA", "ASIA"])
@pytest.mark.parametrize(
    ("name", "template"),
    [
        (".env", "AWS_ACCESS_KEY_ID={v}"),
        ("credentials", "[default]\naws_access_key_id = {v}"),
        ("keys.csv", "User name,Access key ID\ndeploy,{v}"),
        ("main.tf", 'provider "aws" {{\n  access_key = "{v}"\n}}'),
    ],
)
def test_access_key_id_is_found(prefix: str, name: str, template: str) -> None:
    """Long-term (AKIA) and session (ASIA) key ids are reported in env, ini, CSV, Terraform."""
    key_id = testing.access_key_id(prefix=prefix)
    assert [("aws-access-key-id", key_id)] == [
        (s, v) for s, _, v in hits(template.format(v=key_id), name)
    ]


@pytest.mark.parametrize(
    ("name", "template"),
    [
        ("credentials", "[default]\naws_secret_access_key = {v}"),
        (".env", "AWS_SECRET_ACCESS_KEY={v}"),
        ("creds.json", '{{"Credentials": {{"SecretAccessKey": "{v}"}}}}'),
        ("main.tf", 'provider "aws" {{\n  secret_key = "{v}"\n}}'),
        ("app.js", 'const s3 = new S3({{ secretAccessKey: "{v}" }});'),
        ("app.py", 'session = boto3.Session("{k}", "{v}")'),
        ("keys.csv", "Access key ID,Secret access key\n{k},{v}"),
    ],
)
def test_secret_access_key_is_found_by_name_or_beside_its_key_id(name: str, template: str) -> None:
    """A 40-character secret key is reported when named so or on its key id's line."""
    key_id, secret = testing.access_key_id(), testing.secret_access_key()
    found = {(s, v) for s, _, v in hits(template.format(k=key_id, v=secret), name)}
    assert ("aws-secret-access-key", secret) in found


def _pem_keys() -> list[tuple[str, str]]:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ed_key = ed25519.Ed25519PrivateKey.generate()
    pem, raw = serialization.Encoding.PEM, serialization.NoEncryption()
    formats = serialization.PrivateFormat
    return [
        ("rsa-traditional", rsa_key.private_bytes(pem, formats.TraditionalOpenSSL, raw).decode()),
        ("ec-pkcs8", ec_key.private_bytes(pem, formats.PKCS8, raw).decode()),
        ("ec-traditional", ec_key.private_bytes(pem, formats.TraditionalOpenSSL, raw).decode()),
        ("ed25519-openssh", ed_key.private_bytes(pem, formats.OpenSSH, raw).decode()),
        (
            "rsa-encrypted",
            rsa_key.private_bytes(
                pem, formats.PKCS8, serialization.BestAvailableEncryption(b"passphrase")
            ).decode(),
        ),
    ]


def test_private_key_blocks_are_found_as_files_and_inside_string_literals() -> None:
    """PEM keys (RSA, EC, Ed25519/OpenSSH, encrypted) are found raw, in \\n-escaped strings,
    in implicitly concatenated Python strings and in YAML block scalars."""
    for label, pem in _pem_keys():
        lines = pem.strip().splitlines()
        concatenated = "KEY = (\n" + "".join(f'    "{line}\\n"\n' for line in lines) + ")\n"
        yaml_block = "tls:\n  key: |\n" + "".join(f"    {line}\n" for line in lines)
        for name, content in [
            ("key.pem", pem),
            ("keys.py", f"KEY = {pem!r}\n"),
            ("keys.json", json.dumps({"private_key": pem})),
            ("keys.py", concatenated),
            ("values.yaml", yaml_block),
        ]:
            assert slugs(content, name) == {"private-key"}, (label, name)


@pytest.mark.parametrize(
    ("name", "template"),
    [
        ("notify.py", 'post(URL, json={{"routing_key": "{v}", "event_action": "trigger"}})'),
        ("notify.py", 'send_event(routing_key="{v}", summary="JWT key overdue")'),
        (".env", "PAGERDUTY_ROUTING_KEY={v}"),
        (".env", "ERP_PAGERDUTY_ROUTING_KEY={v}"),
        ("alerts.yaml", "pagerduty:\n  integration_key: {v}"),
        ("legacy.py", 'URL = "https://events.pagerduty.com/integration/{v}/enqueue"'),
    ],
)  # fmt: skip
def test_pagerduty_routing_key_is_found(name: str, template: str) -> None:
    """A routing/integration key is reported beside its name or in a v1 integration URL."""
    key = testing.pagerduty_routing_key()
    assert [("pagerduty-routing-key", key)] == [
        (s, v) for s, _, v in hits(template.format(v=key), name)
    ]


@pytest.mark.parametrize(
    ("name", "template"),
    [
        ("notify.py", 'WEBHOOK = "{v}"'),
        (".env", "SLACK_WEBHOOK_URL={v}"),
        ("alerts.yaml", "slack:\n  webhook: {v}"),
        ("README.md", "Post to <{v}> for alerts."),
    ],
)
def test_slack_webhook_url_is_found(name: str, template: str) -> None:
    """Slack incoming-webhook URLs are reported in code, env, YAML and Markdown."""
    url = testing.slack_webhook_url()
    assert [("slack-webhook", url)] == [(s, v) for s, _, v in hits(template.format(v=url), name)]


def test_slack_workflow_webhook_url_is_found() -> None:
    """Workflow Builder webhook URLs are reported too."""
    token = secrets.token_hex(16)
    url = f"https://hooks.slack.com/workflows/T0ABCDEF12/A0ABCDEF12/123456789012345678/{token}"
    assert slugs(f"url = '{url}'\n") == {"slack-webhook"}


@pytest.mark.parametrize("plant", plants() + call_argument_plants(), ids=lambda p: p.filename)
def test_each_planted_secret_is_found_by_its_detector(plant: object) -> None:
    """The planted files used by the pre-commit tests are each found by the right detector."""
    from .conftest import Plant

    assert isinstance(plant, Plant)
    assert plant.slug in slugs(plant.content, plant.filename.rsplit("/", 1)[-1])


# --- negatives: look-alikes ----------------------------------------------------------------


def _std_b64_digest_without_plus_or_slash() -> str:
    while True:
        digest = base64.b64encode(hashlib.sha256(os.urandom(16)).digest()).decode()
        if "+" not in digest and "/" not in digest:
            return digest


def _cert_tail_line() -> str:
    while True:
        body = base64.b64encode(os.urandom(48 * 10 + 32)).decode()
        if "+" not in body[-44:] and "/" not in body[-44:]:
            return "\n".join(body[i : i + 64] for i in range(0, len(body), 64))


LOOK_ALIKES: dict[str, Callable[[], str]] = {
    "uuid": lambda: f'request_id = "{uuid.uuid4()}"',
    "sha256 hex": lambda: f'checksum = "{hashlib.sha256(os.urandom(8)).hexdigest()}"',
    "hex beside a key name": lambda: f'cache_key = "{os.urandom(16).hex()}"',
    "git sha": lambda: f"commit {os.urandom(20).hex()}",
    "sri integrity": lambda: f'"integrity": "sha256-{_std_b64_digest_without_plus_or_slash()}"',
    "lock-file sha512": lambda: (
        f'"integrity": "sha512-{base64.b64encode(os.urandom(64)).decode()}"'
    ),
    "named sha256 digest": lambda: f"digest = '{_std_b64_digest_without_plus_or_slash()}'",
    "base64 image": lambda: (
        f'<img src="data:image/png;base64,{base64.b64encode(os.urandom(300)).decode()}">'
    ),
    "pem certificate tail": lambda: (
        f"-----BEGIN CERTIFICATE-----\n{_cert_tail_line()}\n-----END CERTIFICATE-----"
    ),
    "public key": lambda: (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    ),
    "pem header in code": lambda: f'if text.startswith("{testing.pem_armour("BEGIN")}"):\n    ...',
    "pem placeholder": lambda: f"{testing.pem_armour('BEGIN')}\n...\n{testing.pem_armour('END')}",
    "43-char token without padding": lambda: f'state = "{secrets.token_urlsafe(32)}"',
    "documentation arn": lambda: "role_arn: arn:aws:iam::123456789012:role/deploy",
    "documentation arn 2": lambda: "arn:aws:sns:us-east-1:111122223333:alerts",
    "zero account arn": lambda: "arn:aws:sqs:eu-west-1:000000000000:queue",
    "bucket arn": lambda: '"Resource": "arn:aws:s3:::erp-artifacts/*"',
    "managed policy arn": lambda: "arn:aws:iam::aws:policy/SecretsManagerReadWrite",
    "templated arn": lambda: "!Sub arn:${AWS::Partition}:iam::${AWS::AccountId}:role/rotation",
    "aws documentation key id": lambda: f"aws_access_key_id = {testing.documented_access_key_id()}",
    "aws documentation secret": lambda: (
        f"aws_secret_access_key = {testing.documented_secret_access_key()}"
    ),
    "placeholder key id": lambda: "AWS_ACCESS_KEY_ID=AKIA" + "X" * 16,
    "key id inside a word": lambda: f"X{testing.access_key_id()}Y",
    "hex secret_key": lambda: f'secret_key = "{os.urandom(20).hex()}"',
    "secret key read from env": lambda: 'aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"]',
    "jwt secret id": lambda: 'JWT_SECRET_ID = "k-20261125T211500Z-3f9a2c"',
    "jwt secret from env": lambda: 'JWT_SECRET = os.environ["JWT_SECRET"]',
    "jwt secret from settings": lambda: "JWT_SECRET = settings.JWT_SECRET",
    "jwt secret made at run time": lambda: "jwt_secret = secrets.token_urlsafe(48)",
    "jwt map built in code": lambda: 'doc["JWT_SECRETS"] = ring.secrets_map()',
    "jwt map of variables": lambda: '{"JWT_SECRETS": {kid: secret}, "JWT_SECRET_ID": kid}',
    "jwt map placeholder": lambda: '{"JWT_SECRETS": {"k-1": "change-me-before-deploying"}}',
    "jwt map too short": lambda: '{"JWT_SECRETS": {"k-1": "short"}}',
    "jwt map template": lambda: 'JWT_SECRETS: {"k-1": "${JWT_SIGNING_SECRET}"}',
    "jwt docs example": lambda: 'jwt.decode(token, "secret", algorithms=["HS256"])',
    "jwt fingerprint": lambda: '"JWT_KEYS": {"k-1": {"fingerprint": "sha256:9f86d081884c7d65"}}',
    "amqp routing key": lambda: 'channel.basic_publish(exchange="", routing_key="task_queue")',
    "pagerduty dedup key": lambda: f'"dedup_key": "{os.urandom(16).hex()}"',
    "routing key from env": lambda: 'routing_key=os.environ["ERP_PAGERDUTY_ROUTING_KEY"]',
    "slack placeholder": lambda: (
        "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
    ),
    "slack api url": lambda: "https://slack.com/api/chat.postMessage",
    "slack url template": lambda: (
        'url = f"https://hooks.slack.com/services/T0AB12CD34/B0AB12CD34/{token}"'
    ),
    "jwt secret naming another variable": lambda: "JWT_SECRET: OTHER_SECRET_NAME_2",
    "slack base url": lambda: 'SLACK_HOST = "https://hooks.slack.com/services/"',
}


@pytest.mark.parametrize("name", sorted(LOOK_ALIKES))
def test_look_alike_is_not_reported(name: str) -> None:
    """UUIDs, digests, integrity hashes, images, certificates, placeholders, references and
    documentation examples are not findings."""
    content = LOOK_ALIKES[name]() + "\n"
    assert scan_bytes(content.encode(), "look_alike.py").findings == []
    assert scan_bytes(content.encode(), "look_alike.yaml").findings == []


def test_documentation_examples_are_counted_as_suppressed() -> None:
    """AWS documentation keys and accounts are suppressed by the stated rule, and counted."""
    content = (
        f"aws_access_key_id = {testing.documented_access_key_id()}\n"
        "role = arn:aws:iam::123456789012:role/admin\n"
    )
    report = scan_bytes(content.encode(), "README.md")
    assert (report.findings, report.suppressed["example"]) == ([], 2)


def test_invalid_fernet_alphabet_ending_is_not_a_key() -> None:
    """A 44-character string whose 43rd character cannot end 32 bytes is not a Fernet key."""
    key = testing.fernet_key()
    bent = key[:42] + ("B" if key[42] != "B" else "C") + "="
    assert slugs(f'FERNET_KEY = "{bent}"\n') == set()


# --- output never holds the secret ---------------------------------------------------------


@pytest.mark.parametrize("plant", plants(), ids=lambda p: p.slug)
def test_finding_text_and_json_hold_only_a_redacted_value(plant: object) -> None:
    """A finding's text, repr and JSON name file, line and detector but never the secret."""
    from .conftest import Plant

    assert isinstance(plant, Plant)
    report = scan_bytes(plant.content.encode(), plant.filename)
    assert [plant.detector] == [f.detector for f in report.findings]
    shown = str(report.findings[0]) + repr(report.findings[0]) + json.dumps(report.to_json())
    assert plant.filename in shown
    secret_part = plant.secret
    if plant.slug == "slack-webhook":
        secret_part = plant.secret.split("/")[-1]
    elif plant.slug == "aws-arn":
        secret_part = plant.secret.split(":")[4]  # the account: service and partition are public
    assert secret_part not in shown
    assert all(secret_part[i : i + 8] not in shown for i in range(len(secret_part) - 8))


def test_raw_hits_keep_the_value_out_of_their_repr() -> None:
    """Hit.repr (used in logs and assertion messages) omits the secret."""
    key = testing.fernet_key()
    (_, _, hit) = next(find_secrets(f'FERNET_KEY = "{key}"'.encode()))
    assert key not in repr(hit)


def test_every_detector_has_a_unique_name_slug_and_plugin() -> None:
    """Names are the detect-secrets secret types: they must be unique."""
    for attribute in ("name", "slug", "plugin"):
        values = [getattr(d, attribute) for d in DETECTORS]
        assert len(values) == len(set(values))
