"""Every form the issue of real repositories listed: assignments, ecosystems, encodings, keys.

Each case is (file name, template, expected kind or None); ``{v}`` is filled at run time with
a fresh value of that kind (``erp.scan.testing``), so nothing secret-looking is committed.
"""

from __future__ import annotations

import base64
import json
import os
import random

import pytest

from erp.scan import find_secrets, testing


def found(content: str, name: str) -> list[tuple[str, str]]:
    """(slug, value) of every match that no allow rule lets through."""
    return [(d.slug, h.value) for d, _, h in find_secrets(content.encode(), name) if not h.example]


def _fernet(urlsafe: bool) -> str:
    """A Fernet key whose alphabet does (or does not) prove it url-safe."""
    rng = random.Random(os.urandom(8))
    while True:
        key = testing.fernet_key(rng)
        if ("-" in key or "_" in key) == urlsafe:
            return key


# --- Fernet: context and shape together --------------------------------------------------

FERNET = [
    ("a.py", 'KEY = "{v}"', "urlsafe", True),
    ("a.py", 'KEY = "{v}"', "plain", False),
    ("a.py", 'FERNET_KEY = "{v}"', "plain", True),
    ("a.py", 'cipher = Fernet(b"{v}")', "plain", True),
    ("a.py", 'cipher = MultiFernet([Fernet("{v}")])', "plain", True),
    (".env", "ENCRYPTION_KEY={v}", "plain", True),
    ("settings.py", 'FERNET_KEYS = [\n    "{v}",\n    "{v}",\n]', "plain", True),
    ("config.yaml", "fernet:\n  key: {v}", "plain", True),
    ("bundle.min.js", '{{"sha256":"x","integrity":"y","fernet_key":"{v}"}}', "plain", True),
    ("bundle.min.js", '{{"sha256":"x","integrity":"y","k":"{v}"}}', "urlsafe", True),
    ("go.sum", "golang.org/x/text v0.3.8 h1:{v}", "plain", False),
    (".terraform.lock.hcl", '  hashes = [\n    "h1:{v}",\n  ]', "plain", False),
    ("package-lock.json", '"integrity": "sha256-{v}"', "plain", False),
    ("lambda.json", '{{"CodeSha256": "{v}"}}', "plain", False),
    ("wg0.conf", "[Peer]\nPublicKey = {v}", "plain", False),
]


@pytest.mark.parametrize(("name", "template", "alphabet", "reported"), FERNET)
def test_fernet_key_needs_a_context_or_a_url_safe_alphabet(
    name: str, template: str, alphabet: str, reported: bool
) -> None:
    """A key is reported in a Fernet context or when its alphabet is url-safe; lock-file and
    SRI hashes, CodeSha256 and WireGuard public keys are never reported."""
    key = _fernet(alphabet == "urlsafe")
    slugs = {slug for slug, _ in found(template.format(v=key), name)}
    assert ("fernet-key" in slugs) is reported


def test_base64_of_printable_text_is_not_a_fernet_key() -> None:
    """An MD5 hex digest, an ETag or a YAML !!binary text, base64-encoded, is never a key."""
    text = os.urandom(16).hex().encode()
    encoded = base64.urlsafe_b64encode(text).decode()
    assert found(f'FERNET_KEY = "{encoded}"\nETAG = "{encoded}"\n', "a.py") == []


# --- the assignment syntaxes, per kind ---------------------------------------------------

SYNTAXES = [
    ('{n}        = "{v}"', "terraform fmt alignment"),
    ('{{"cell": ["{n} = \\"{v}\\"\\n"]}}', "notebook source line (escaped quotes)"),
    ('{{"env": "{{\\"{n}\\": \\"{v}\\"}}"}}', "escaped JSON inside JSON"),
    ('{{"env": "{n}={v}\\nOTHER=1"}}', "env text inside a JSON string"),
    ('client = Client(\n    {n}=\n        "{v}",\n)', "value on the line after its name"),
    ("<{n}>\n    {v}\n</{n}>", "multi-line XML element"),
    ("<{n}>{v}</{n}>", "XML element"),
    ('<add key="{n}" value="{v}" />', "XML attributes"),
    ("<entry>\n  <name>{n}</name>\n  <value>{v}</value>\n</entry>", "XML name/value elements"),
    ("env:\n  - name: {n}\n    value: {v}", "Kubernetes env name/value"),
    ('{{"name": "{n}", "value": "{v}"}}', "ECS name/value"),
    ('var {n} string = "{v}"', "Go typed var"),
    ('val {n}: String = "{v}"', "Kotlin typed"),
    ('const {n}: string = "{v}";', "TypeScript typed"),
    ('${n} .= "{v}";', "PHP .="),
    ('${n} ??= "{v}";', "PHP ??="),
    ('{n} ?= "{v}"', "Makefile ?="),
    ('{n} ::= "{v}"', "Makefile ::="),
    ('{n} :::= "{v}"', "Makefile :::="),
    ('{n} += "{v}"', "Makefile +="),
    ('System.setProperty("{n}", "{v}");', "Java system property"),
    ('x = os.getenv("{n}", "{v}")', "getenv fallback"),
    ('os.environ.setdefault("{n}", "{v}")', "setdefault"),
    ('const s = process.env.{n} || "{v}";', "Node fallback"),
    ("ENV {n} {v}", "Dockerfile ENV without ="),
    ("{n}: |\n  {v}", "YAML block scalar"),
    ("export {n}=\\\n  {v}", "continued shell export"),
]

NAMES = {
    "aws-secret-access-key": "aws_secret_access_key",
    "jwt-secret": "JWT_SECRET",
    "pagerduty-routing-key": "PAGERDUTY_ROUTING_KEY",
}


@pytest.mark.parametrize("slug", sorted(NAMES))
@pytest.mark.parametrize(("template", "what"), SYNTAXES, ids=[w for _, w in SYNTAXES])
def test_every_assignment_syntax_is_recognised(slug: str, template: str, what: str) -> None:
    """AWS secret keys, JWT secrets and PagerDuty keys are found in every syntax."""
    value = testing.make(slug)
    assert (slug, value) in found(template.format(n=NAMES[slug], v=value), "config.txt"), what


# --- JWT secrets in every ecosystem, and references --------------------------------------

JWT = [
    ("app.js", 'jwt.sign({{ id: user.id, role: "x" }}, "{v}", {{ expiresIn: "1h" }});'),
    ("app.js", "jwt.verify(token, '{v}');"),
    ("main.go", 'var jwtKey = []byte("{v}")'),
    ("main.go", 's, err := token.SignedString([]byte("{v}"))'),
    ("Jwt.java", 'Key k = Keys.hmacShaKeyFor("{v}".getBytes(StandardCharsets.UTF_8));'),
    ("Jwt.java", 'Algorithm algorithm = Algorithm.HMAC256("{v}");'),
    ("Jwt.java", 'Jwts.builder().setSubject(user).signWith(SignatureAlgorithm.HS256, "{v}");'),
    ("jwt.rb", "token = JWT.encode(payload, '{v}', 'HS256')"),
    ("settings.py", 'SIMPLE_JWT = {{\n    "ALGORITHM": "HS256",\n    "SIGNING_KEY": "{v}",\n}}'),
    ("application.properties", "jwt.secret={v}"),
    ("application.yml", "jwt:\n  secret: {v}\n  expiration: 3600"),
    ("docker-compose.yml",
     "      HASURA_GRAPHQL_JWT_SECRET: '{{\"type\": \"HS256\", \"key\": \"{v}\"}}'"),
    ("config.toml", '[jwt]\nsecret = "{v}"\nttl = 3600'),
    ("config.yaml", "jwt: {{secret: {v}, ttl: 3600}}"),
    ("settings.py", 'jwt_secret: SecretStr = SecretStr("{v}")'),
    (".env", "JWT_SECRET={v}"),
    ("deployment.yaml",
     "env:\n  - name: JWT_SECRETS\n    value: '{{\"k-1\": \"{v}\"}}'"),
    ("deployment.yaml",
     "env:\n  - name: JWT_SECRETS\n    value: |\n      {{\"k-1\": \"{v}\"}}"),
    ("task-definition.json",
     '{{"environment":[{{"name":"JWT_SECRETS","value":"{{\\"k-1\\": \\"{v}\\"}}"}}]}}'),
    ("task-definition.json",
     '[\n  {{"name": "JWT_SECRETS",\n   "value": "{{\\"k-1\\": \\"{v}\\"}}"}}\n]'),
]  # fmt: skip


@pytest.mark.parametrize(("name", "template"), JWT, ids=[f"{n}:{t[:24]}" for n, t in JWT])
def test_jwt_signing_secret_is_found_in_every_ecosystem(name: str, template: str) -> None:
    """Node, Go, Java, Ruby, simplejwt, Spring, Hasura, TOML, YAML flow maps, SecretStr, and a
    JWT_SECRETS map as the value of a Kubernetes or ECS name/value pair."""
    value = testing.jwt_secret()
    assert ("jwt-secret", value) in found(template.format(v=value), name)


def test_an_unquoted_env_value_without_a_digit_is_found() -> None:
    """A bare mixed-case value of high entropy counts even with no digit in it."""
    value = "".join(
        random.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz") for _ in range(40)
    )
    assert ("jwt-secret", value) in found(f"JWT_SECRET={value}\n", ".env")


REFERENCES = [
    (".env", "JWT_SECRET=op://vault/item/field"),
    (".env", "JWT_SECRET=vault:secret/data/jwt#key"),
    (".env", "JWT_SECRET=${JWT_SECRET}"),
    ("ci.yml", "JWT_SECRET: ${{ secrets.JWT_SECRET }}"),
    ("values.yaml", "jwt:\n  existingSecret: erp-secrets\n  secretKey: jwt-signing-key"),
    ("settings.py", 'SIMPLE_JWT = {\n    "SIGNING_KEY": SECRET_KEY,\n}'),
    ("app.js", "jwt.sign(payload, process.env.JWT_SECRET);"),
]


@pytest.mark.parametrize(("name", "content"), REFERENCES)
def test_references_are_never_reported(name: str, content: str) -> None:
    """op://, vault:, ${...}, {{ secrets.X }} and the name of a key in a Secret are not secrets."""
    assert found(content, name) == []


# --- other forms -------------------------------------------------------------------------


def test_pagerduty_eu_host_and_positional_pdpyras_key_are_found() -> None:
    """The EU Events host and pdpyras' positional routing key."""
    key = testing.pagerduty_routing_key()
    content = (
        f"curl https://events.eu.pagerduty.com/integration/{key}/enqueue\n"
        f'session = pdpyras.EventsAPISession("{key}")\n'
    )
    assert found(content, "alert.py") == [("pagerduty-routing-key", key)] * 2


@pytest.mark.parametrize(
    "template",
    [
        'URL = ("{a}/"\n       "{b}")',
        'url = "{a}/" + "{b}"',
        '{{"url": "{escaped}"}}',
    ],
)
def test_slack_webhook_split_or_escaped_is_found(template: str) -> None:
    """A webhook split over two literals, or with JSON's \\/ escapes, is one finding."""
    url = testing.slack_webhook_url()
    a, b = url.rsplit("/", 1)
    content = template.format(a=a, b=b, escaped=url.replace("/", "\\/"))
    assert found(content, "notify.py") == [("slack-webhook", url)]


def test_sts_response_reports_the_secret_key_beside_the_key_id() -> None:
    """<SecretAccessKey> in an STS XML response is found, as its <AccessKeyId> is."""
    key_id, secret = testing.access_key_id(prefix="ASIA"), testing.secret_access_key()
    xml = (
        f"<Credentials>\n  <AccessKeyId>{key_id}</AccessKeyId>\n"
        f"  <SecretAccessKey>{secret}</SecretAccessKey>\n</Credentials>\n"
    )
    assert set(found(xml, "sts.xml")) == {
        ("aws-access-key-id", key_id),
        ("aws-secret-access-key", secret),
    }


def test_secret_key_in_a_multi_line_constructor_after_its_key_id_is_found() -> None:
    """Positional key id and secret on consecutive lines of a call."""
    key_id, secret = testing.access_key_id(), testing.secret_access_key()
    content = f'session = boto3.Session(\n    "{key_id}",\n    "{secret}",\n)\n'
    assert ("aws-secret-access-key", secret) in found(content, "a.py")


@pytest.mark.parametrize(
    "region", ["*", "${AWS::Region}", "${var.region}", "{region}", "us-east-1", ""]
)
def test_arn_with_a_wildcard_or_templated_region_and_a_literal_account_is_found(
    region: str,
) -> None:
    """IAM policy resources name the account even when the region is a wildcard."""
    account = testing.aws_account()
    arn = f"arn:aws:logs:{region}:{account}:log-group:/erp/*"
    assert found(f'"Resource": "{arn}"', "policy.json") == [("aws-arn", arn)]


@pytest.mark.parametrize(
    ("partition", "region"),
    [
        ("${AWS::Partition}", "${AWS::Region}"),  # CloudFormation !Sub
        ("${data.aws_partition.current.partition}", "us-east-1"),  # Terraform
        ("${aws:partition}", "${aws:region}"),  # Serverless
        ("#{AWS::Partition}", "#{AWS::Region}"),  # serverless-pseudo-parameters
        ("aws", "{}"),  # str.format
        ("aws", "%(region)s"),
        ("{partition}", "{region}"),
        ("aws", "#{region}"),
        ("aws", "{{ region }}"),  # Jinja, Helm
        ("aws", "{{ .Values.region }}"),
        ("aws", "$AWS_REGION"),
        ("aws", "$(AWS_REGION)"),
        ("<partition>", "<region>"),
    ],
)
def test_arn_with_a_templated_partition_and_a_literal_account_is_found(
    partition: str, region: str
) -> None:
    """CloudFormation, Terraform, Serverless, format strings, Jinja and shell templates."""
    account = testing.aws_account()
    arn = f"arn:{partition}:secretsmanager:{region}:{account}:secret:prod-db"
    assert found(f'Resource: !Sub "{arn}"\n', "stack.yaml") == [("aws-arn", arn)]


@pytest.mark.parametrize(
    "text",
    [
        'Resource: !Sub "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/deploy"',
        'policy = "arn:${data.aws_partition.current.partition}:iam::aws:policy/ReadOnlyAccess"',
        'x = "arn:{}:iam::{}:role/{}".format(partition, account, name)',
        'log.warn("warn:{}:x:y:ACCOUNT:z")',
        'role = "arn:${AWS::Partition}:iam::123456789012:role/deploy"',
    ],
)
def test_templated_arn_without_a_real_literal_account_is_not_reported(text: str) -> None:
    """A templated or documentation account, or a word ending in "arn", names no account."""
    assert found(text.replace("ACCOUNT", testing.aws_account()), "stack.py") == []


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::127311923021:root",
        "arn:aws:iam::156460612806:root",
        "arn:aws:lambda:us-east-1:580247275435:layer:LambdaInsightsExtension:38",
        "arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV2:40",
    ],
)
def test_public_aws_owned_accounts_are_allowed_by_rule(arn: str) -> None:
    """The ELB log-delivery principals and AWS's public Lambda layers are not secrets."""
    assert found(f"Principal: {arn}", "bucket-policy.yaml") == []


def _body(size: int) -> list[str]:
    data = base64.b64encode(os.urandom(size)).decode()
    return [data[i : i + 64] for i in range(0, len(data), 64)]


@pytest.mark.parametrize("version", ["2", "3"])
def test_putty_ppk_private_part_is_found(version: str) -> None:
    """PuTTY .ppk v2 and v3 files."""
    private = _body(600)
    derivation = "Key-Derivation: Argon2id\nArgon2-Memory: 8192\n" if version == "3" else ""
    ppk = (
        f"PuTTY-User-Key-File-{version}: ssh-rsa\nEncryption: aes256-cbc\n{derivation}"
        f"Comment: deploy\nPublic-Lines: 2\n{chr(10).join(_body(90))}\n"
        f"Private-Lines: {len(private)}\n{chr(10).join(private)}\nPrivate-MAC: 00ff\n"
    )
    assert found(ppk, "deploy.ppk") == [("private-key", "".join(private))]


def test_ssh2_encrypted_private_key_is_found() -> None:
    """ssh.com's RFC 4716 armour."""
    body = _body(600)
    key = (
        '---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\nComment: "rsa-key-20260101"\n'
        + "\n".join(body)
        + "\n---- END SSH2 ENCRYPTED PRIVATE KEY ----\n"
    )
    assert found(key, "id_ssh2") == [("private-key", "".join(body))]


@pytest.mark.parametrize("form", ["properties", "escaped json"])
def test_pem_key_with_continuations_or_inside_escaped_json_is_found(form: str) -> None:
    """.properties backslash continuations; a PEM in a JSON string inside a JSON string."""
    pem = testing.private_key_pem()
    if form == "properties":
        content = "tls.key=" + "\\\n".join(pem.splitlines()) + "\n"
    else:
        content = json.dumps({"config": json.dumps({"key": pem})})
    assert [slug for slug, _ in found(content, "app.properties")] == ["private-key"]


def test_private_jwk_is_found_and_public_jwk_is_not() -> None:
    """A JWK with "kty" and a private "d" member is a private key; without "d" it is public."""
    d = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    public = {"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
              "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}  # fmt: skip
    assert found(json.dumps({"keys": [public]}), "jwks.json") == []
    assert found(json.dumps({"keys": [{**public, "d": d}]}), "jwks.json") == [("private-key", d)]


# --- base64 in Kubernetes Secrets and kubeconfig -----------------------------------------


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_kubernetes_secret_data_is_decoded_and_scanned() -> None:
    """Each data: entry is decoded; secrets are reported at its line, once."""
    secret, jwt, pem = testing.secret_access_key(), testing.jwt_secret(), testing.private_key_pem()
    manifest = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: erp\ntype: Opaque\ndata:\n"
        f"  aws_secret_access_key: {_b64(secret)}\n  jwt-secret: {_b64(jwt)}\n"
        f"  tls.key: {_b64(pem)}\n  username: {_b64('admin')}\n"
    )
    lines = [(d.slug, line) for d, line, h in find_secrets(manifest.encode(), "secret.yaml")]
    assert lines == [("aws-secret-access-key", 7), ("jwt-secret", 8), ("private-key", 9)]


def test_kubernetes_secret_as_json_is_decoded() -> None:
    """kubectl get secret -o json."""
    jwt = testing.jwt_secret()
    doc = json.dumps({"apiVersion": "v1", "kind": "Secret", "data": {"JWT_SECRET": _b64(jwt)}})
    assert found(doc, "secret.json") == [("jwt-secret", jwt)]


def test_kubeconfig_client_key_data_is_decoded() -> None:
    """The client's private key in a kubeconfig."""
    pem = testing.private_key_pem()
    kubeconfig = (
        "apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user:\n"
        f"    client-certificate-data: {_b64('-----BEGIN CERTIFICATE-----')}\n"
        f"    client-key-data: {_b64(pem)}\n"
    )
    assert [slug for slug, _ in found(kubeconfig, "kubeconfig")] == ["private-key"]


def test_configmap_data_is_not_decoded() -> None:
    """Only Secrets hold base64 in data:; a ConfigMap's values are plain text."""
    doc = f"kind: ConfigMap\ndata:\n  note: {_b64('JWT_SECRET=' + testing.jwt_secret())}\n"
    assert found(doc, "cm.yaml") == []


# --- the small public API for other checks -----------------------------------------------


def test_find_in_text_applies_the_allow_rules_and_filters_kinds() -> None:
    """find_in_text reports what erp-secrets scan would, optionally for some kinds only."""
    from erp.scan import find_in_text

    account = testing.aws_account()
    text = (
        f"Resource: arn:aws:s3:::bucket\nRole: arn:aws:iam::{account}:role/x\n"
        "Docs: arn:aws:iam::123456789012:role/x\n"
        f'FERNET_KEY = "{testing.fernet_key()}"\n'
        f"Other: arn:aws:iam::{account}:role/y  # pragma: allowlist secret\n"
    )
    arns = find_in_text(text, kinds={"aws-arn"})
    assert [(m.slug, m.line, m.value) for m in arns] == [
        ("aws-arn", 2, f"arn:aws:iam::{account}:role/x")
    ]
    assert [m.slug for m in find_in_text(text)] == ["aws-arn", "fernet-key"]
    assert account not in repr(arns)
