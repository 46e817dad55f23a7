"""Templates of the labelled scanning corpus: file formats, true secrets and look-alikes.

Used by :mod:`bench.scan_corpus`. A template is a list of lines with ``{placeholders}``; a line
holding a placeholder of :data:`POSITIVE` is a true secret of that kind, a line of a
:data:`NEGATIVES` template is a labelled look-alike. Values are made at run time
(``erp.scan.testing`` and ``random``): nothing secret-looking is committed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import uuid
from collections.abc import Callable
from typing import Any

from erp.scan import testing

__all__ = ["FORMATS", "NEGATIVES", "POSITIVE", "POSITIVES", "SPECIAL_FILES", "values"]


def _plain_b64_32(rng: random.Random) -> str:
    """Standard base64 of 32 bytes with no '+' or '/': the shape a Fernet key shares."""
    while True:
        value = base64.b64encode(rng.randbytes(32)).decode()
        if "+" not in value and "/" not in value:
            return value


def _fernet_plain(rng: random.Random) -> str:
    """A Fernet key whose alphabet does not prove it url-safe (it needs its context)."""
    while True:
        value = testing.fernet_key(rng)
        if "-" not in value and "_" not in value:
            return value


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def values(rng: random.Random) -> dict[str, str]:
    """One fresh value per placeholder."""
    pem = testing.private_key_pem(rng)
    account = testing.aws_account(rng)
    slack = testing.slack_webhook_url(rng)
    image = b"\x89PNG\r\n\x1a\n" + rng.randbytes(rng.randint(300, 900))
    day = f"2026{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    secret = testing.secret_access_key(rng)
    jwt = testing.jwt_secret(rng)
    md5 = rng.randbytes(16).hex()
    certificate = uuid.UUID(int=rng.getrandbits(128))
    return {
        # positives
        "fernet": testing.fernet_key(rng),
        "fernet2": testing.fernet_key(rng),
        "fernet_ctx": _fernet_plain(rng),
        "jwt": jwt,
        "jwt2": testing.jwt_secret(rng),
        "weak_jwt": rng.choice(["hunter2", "s3cr3t!x", "letmein9", "p4ssw0rd"]) * 2,
        "arn": testing.aws_arn(rng),
        "arn_sm": testing.aws_arn(rng, service="secretsmanager"),
        "arn_cn": testing.aws_arn(rng, partition="aws-cn", service="secretsmanager"),
        "arn_gov": testing.aws_arn(rng, partition="aws-us-gov"),
        "arn_acm": f"arn:aws:acm:eu-west-1:{account}:certificate/{certificate}",
        "arn_wild": f"arn:aws:logs:*:{testing.aws_account(rng)}:log-group:/erp/*",
        "arn_tmpl": f"arn:aws:sqs:${{AWS::Region}}:{testing.aws_account(rng)}:jobs",
        "akia": testing.access_key_id(rng),
        "asia": testing.access_key_id(rng, prefix="ASIA"),
        "secret": secret,
        "pem_repr": repr(pem),
        "pem_json": json.dumps(pem),
        "pem_json2": json.dumps(json.dumps({"key": pem})),
        "pem_props": "\\\n".join(pem.splitlines()),
        "pd": testing.pagerduty_routing_key(rng),
        "slack": slack,
        "slack_a": slack.rsplit("/", 1)[0] + "/",
        "slack_b": slack.rsplit("/", 1)[1],
        "slack_esc": slack.replace("/", "\\/"),
        "b64_secret": _b64(secret),
        "b64_jwt": _b64(jwt),
        "b64_pem": _b64(pem),
        "jwk_d": base64.urlsafe_b64encode(rng.randbytes(32)).decode().rstrip("="),
        # look-alikes
        "uuid": str(uuid.UUID(int=rng.getrandbits(128))),
        "sha256": rng.randbytes(32).hex(),
        "sha1": rng.randbytes(20).hex(),
        "md5": md5,
        "hex16": rng.randbytes(8).hex(),
        "h1": _plain_b64_32(rng),
        "sri256": _plain_b64_32(rng),
        "sri512": base64.b64encode(rng.randbytes(64)).decode(),
        "md5_b64": base64.urlsafe_b64encode(md5.encode()).decode(),
        "b64img": base64.b64encode(image).decode(),
        "token43": base64.urlsafe_b64encode(rng.randbytes(32)).decode().rstrip("="),
        "kid": f"k-{day}T120000Z-{rng.randbytes(3).hex()}",
        "word": rng.choice(["alpha", "orders", "billing", "ledger", "invoices"]),
        "b64_word": _b64(rng.choice(["admin", "erp-app", "postgres"])),
        "jwk_x": base64.urlsafe_b64encode(rng.randbytes(32)).decode().rstrip("="),
        "sha_b64": base64.b64encode(hashlib.sha256(rng.randbytes(8)).digest()).decode(),
    }  # fmt: skip


POSITIVE = {
    "fernet": "fernet-key", "fernet2": "fernet-key", "fernet_ctx": "fernet-key",
    "jwt": "jwt-secret", "jwt2": "jwt-secret", "weak_jwt": "jwt-secret", "b64_jwt": "jwt-secret",
    "arn": "aws-arn", "arn_sm": "aws-arn", "arn_cn": "aws-arn", "arn_gov": "aws-arn",
    "arn_acm": "aws-arn", "arn_wild": "aws-arn", "arn_tmpl": "aws-arn",
    "akia": "aws-access-key-id", "asia": "aws-access-key-id",
    "secret": "aws-secret-access-key", "b64_secret": "aws-secret-access-key",
    "pem_repr": "private-key", "pem_json": "private-key", "pem_json2": "private-key",
    "pem_props": "private-key", "b64_pem": "private-key", "jwk_d": "private-key",
    "pd": "pagerduty-routing-key",
    "slack": "slack-webhook", "slack_a": "slack-webhook", "slack_esc": "slack-webhook",
}  # fmt: skip
"""Placeholder -> the kind of secret on its line."""

# Format -> (file name: {i} is a number; filler style).
FORMATS: dict[str, tuple[str, str]] = {
    "py": ("mod_{i}.py", "py"), "ipynb": ("analysis_{i}.ipynb", "json"),
    "env": ("settings_{i}.env", "env"), "sh": ("deploy_{i}.sh", "env"),
    "ps1": ("deploy_{i}.ps1", "code"), "bat": ("run_{i}.bat", "env"),
    "json": ("config_{i}.json", "json"), "yaml": ("config_{i}.yaml", "yaml"),
    "compose": ("{i}/docker-compose.yml", "yaml"), "gha": ("{i}/.github/workflows/ci.yml", "yaml"),
    "cfn": ("stack_{i}.template.yaml", "yaml"), "helm": ("chart_{i}/values.yaml", "yaml"),
    "tfstate": ("env_{i}/terraform.tfstate", "json"), "tf": ("main_{i}.tf", "code"),
    "toml": ("pyproject_{i}.toml", "env"), "ini": ("credentials_{i}.ini", "env"),
    "cfg": ("setup_{i}.cfg", "env"), "properties": ("application_{i}.properties", "env"),
    "xml": ("pom_{i}.xml", "xml"), "config": ("{i}/App.config", "xml"),
    "Dockerfile": ("{i}/Dockerfile", "env"), "Makefile": ("{i}/Makefile", "env"),
    "md": ("notes_{i}.md", "md"), "rst": ("guide_{i}.rst", "md"), "txt": ("readme_{i}.txt", "md"),
    "html": ("page_{i}.html", "xml"), "js": ("app_{i}.js", "code"),
    "minjs": ("bundle_{i}.min.js", "min"), "ts": ("service_{i}.ts", "code"),
    "go": ("main_{i}.go", "code"), "java": ("Service{i}.java", "code"),
    "kt": ("Service{i}.kt", "code"), "rb": ("service_{i}.rb", "code"),
    "php": ("service_{i}.php", "code"), "cs": ("Service{i}.cs", "code"),
    "sql": ("seed_{i}.sql", "sql"), "csv": ("export_{i}.csv", "csv"), "log": ("app_{i}.log", "log"),
    "css": ("site_{i}.css", "code"), "lock": ("{i}/package-lock.json", "json"),
    "gradle": ("{i}/build.gradle", "code"), "conf": ("{i}/wg0.conf", "env"),
    "yarnlock": ("{i}/yarn.lock", "env"), "scala": ("Service{i}.scala", "code"),
}  # fmt: skip

POSITIVES: list[tuple[str, list[str]]] = [
    ("py", ['FERNET_KEY = "{fernet}"']),
    ("py", ['cipher = Fernet(b"{fernet_ctx}")']),
    ("py", ['cipher = MultiFernet([Fernet("{fernet}"), Fernet("{fernet2}")])']),
    ("py", ["JWT_SECRETS = {{", '    "k-1": "{jwt}",', '    "k-2": "{jwt2}",', "}}"]),
    ("py", ['token = jwt.encode(claims, "{weak_jwt}", algorithm="HS256")']),
    ("py", ['os.environ.setdefault("JWT_SECRET", "{jwt}")']),
    ("py", ['SIMPLE_JWT = {{"ALGORITHM": "HS256", "SIGNING_KEY": "{jwt}"}}']),
    ("py", ['creds = sts.assume_role(RoleArn="{arn}", RoleSessionName="ci")']),
    ("py", ['client = boto3.client("s3", aws_access_key_id="{akia}", '
            'aws_secret_access_key="{secret}")']),
    ("py", ["session = boto3.Session(", '    "{asia}",', '    "{secret}",', ")"]),
    ("py", ["DEPLOY_KEY = {pem_repr}"]),
    ("py", ['session = pdpyras.EventsAPISession("{pd}")']),
    ("py", ['SLACK_WEBHOOK = ("{slack_a}"', '                 "{slack_b}")']),
    ("ipynb", ['    "JWT_SECRET = \\"{jwt}\\"\\n",']),
    ("ipynb", ['    "client = boto3.client(\\"s3\\", aws_secret_access_key=\\"{secret}\\")\\n",']),
    ("env", ["FERNET_KEY={fernet_ctx}"]),
    ("env", ["JWT_SECRETS='{{\"k-1\": \"{jwt}\", \"k-2\": \"{jwt2}\"}}'"]),
    ("env", ["AWS_ACCESS_KEY_ID={akia}", "AWS_SECRET_ACCESS_KEY={secret}"]),
    ("env", ["PAGERDUTY_ROUTING_KEY={pd}"]),
    ("env", ["ERP_AWS_SECRET_ID={arn_sm}"]),
    ("sh", ['export FERNET_KEY="{fernet}"']),
    ("sh", ["export AWS_SECRET_ACCESS_KEY=\\", "  {secret}"]),
    ("sh", ["curl -X POST -H 'Content-type: application/json' --data @msg.json {slack}"]),
    ("sh", ["curl https://events.eu.pagerduty.com/integration/{pd}/enqueue"]),
    ("ps1", ['$env:JWT_SECRET = "{jwt}"']),
    ("ps1", ['$env:AWS_SECRET_ACCESS_KEY = "{secret}"']),
    ("bat", ["set JWT_SECRET={jwt}"]),
    ("json", ['  "fernet_key": "{fernet}",']),
    ("json", ['  "JWT_SECRETS": {{"k-1": "{jwt}", "k-2": "{jwt2}"}},']),
    ("json", ['  "Resource": "{arn_wild}",']),
    ("json", ['  "AccessKeyId": "{asia}",', '  "SecretAccessKey": "{secret}",']),
    ("json", ['  "private_key": {pem_json},']),
    ("json", ['  "config": {pem_json2},']),
    ("json", ['  "webhook": "{slack_esc}",']),
    ("json", ['  "environment": [{{"name": "JWT_SECRET", "value": "{jwt}"}}],']),
    ("json", ['  "keys": [{{"kty": "EC", "crv": "P-256", "x": "{jwk_x}", "d": "{jwk_d}"}}],']),
    ("yaml", ["fernet:", "  key: {fernet_ctx}"]),
    ("yaml", ["JWT_SECRETS:", "  k-1: {jwt}", '  k-2: "{jwt2}"']),
    ("yaml", ["jwt: {{secret: {jwt}, ttl: 3600}}"]),
    ("yaml", ["aws_secret_access_key: |", "  {secret}"]),
    ("yaml", ["pagerduty:", "  integration_key: {pd}"]),
    ("yaml", ["role_arn: {arn_gov}"]),
    ("compose", ["    environment:", "      HASURA_GRAPHQL_JWT_SECRET: "
                 "'{{\"type\": \"HS256\", \"key\": \"{jwt}\"}}'"]),
    ("compose", ["      - AWS_SECRET_ACCESS_KEY={secret}"]),
    ("gha", ["        env:", "          SLACK_WEBHOOK_URL: {slack}"]),
    ("cfn", ["      QueueArn: {arn_tmpl}"]),
    ("cfn", ["        - Effect: Allow", "          Resource: {arn_cn}"]),
    ("helm", ["env:", "  - name: JWT_SECRET", '    value: "{jwt}"']),
    ("helm", ["fernetKey: {fernet}"]),
    ("tfstate", ['            "id": "{akia}",', '            "key_fingerprint": null,',
                 '            "pgp_key": null,', '            "secret": "{secret}",']),
    ("tfstate", ['            "arn": "{arn_acm}",']),
    ("tf", ['provider "aws" {{', '  access_key        = "{akia}"',
            '  secret_key        = "{secret}"', "}}"]),
    ("tf", ['  routing_key       = "{pd}"']),
    ("toml", ["[jwt]", 'secret = "{jwt}"']),
    ("toml", ['fernet_key = "{fernet}"']),
    ("ini", ["[default]", "aws_access_key_id = {akia}", "aws_secret_access_key = {secret}"]),
    ("cfg", ["[pagerduty]", "routing_key = {pd}"]),
    ("properties", ["jwt.secret={jwt}"]),
    ("properties", ["tls.key={pem_props}"]),
    ("xml", ["<SecretAccessKey>{secret}</SecretAccessKey>"]),
    ("xml", ["<JwtSecret>", "    {jwt}", "</JwtSecret>"]),
    ("config", ['  <add key="AWSSecretKey" value="{secret}" />']),
    ("config", ['  <add key="JwtSecret" value="{jwt}" />']),
    ("Dockerfile", ["ENV FERNET_KEY={fernet}", "ENV JWT_SECRET {jwt}"]),
    ("Makefile", ['JWT_SECRET ?= "{jwt}"']),
    ("Makefile", ['AWS_SECRET_ACCESS_KEY ::= "{secret}"']),
    ("md", ["Deploy with the role `{arn}`."]),
    ("md", ["```", "FERNET_KEY={fernet}", "```"]),
    ("rst", [".. code-block:: sh", "", "   export JWT_SECRET={jwt}"]),
    ("txt", ["webhook: {slack}"]),
    ("html", ['<input type="hidden" name="aws_secret_access_key" value="{secret}">']),
    ("js", ['const token = jwt.sign({{ id: user.id }}, "{jwt}", {{ expiresIn: "1h" }});']),
    ("js", ['const secret = process.env.JWT_SECRET || "{jwt}";']),
    ("js", ['const s3 = new S3({{ accessKeyId: "{akia}", secretAccessKey: "{secret}" }});']),
    ("minjs", ['var a={{"integrity":"sha512-x","fernetKey":"{fernet_ctx}","k":"{fernet}"}};']),
    ("ts", ['const jwtSecret: string = "{jwt}";']),
    ("go", ['var jwtKey = []byte("{jwt}")']),
    ("go", ['tokenString, err := token.SignedString([]byte("{weak_jwt}"))']),
    ("go", ['var awsSecretAccessKey string = "{secret}"']),
    ("java", ['Key key = Keys.hmacShaKeyFor("{jwt}".getBytes(StandardCharsets.UTF_8));']),
    ("java", ['System.setProperty("aws.secretKey", "{secret}");']),
    ("kt", ['val jwtSecret: String = "{jwt}"']),
    ("rb", ["token = JWT.encode(payload, '{jwt}', 'HS256')"]),
    ("php", ['$jwtSecret ??= "{jwt}";']),
    ("php", ['$awsSecretKey .= "{secret}";']),
    ("cs", ['string JwtSecret = "{jwt}";']),
    ("sql", ["INSERT INTO settings (name, value) VALUES ('jwt_secret', '{jwt}');"]),
    ("csv", ["deploy,{akia},{secret}"]),
    ("log", ["2026-11-25T12:00:00Z INFO assumed {arn} for deploy"]),
    ("gradle", ['    buildConfigField "String", "JWT_SECRET", "\\"{jwt}\\""']),
    ("scala", ['val jwtSecret = "{jwt}"']),
]  # fmt: skip

NEGATIVES: list[tuple[str, str, list[str]]] = [
    ("uuid", "py", ['request_id = "{uuid}"']),
    ("sha256 hex", "py", ['checksum = "{sha256}"']),
    ("md5 etag", "py", ['ETAG = "{md5}"']),
    ("base64 of a hex digest", "py", ['etag = "{md5_b64}"']),
    ("43-char token", "py", ['csrf_state = "{token43}"']),
    ("key id (kid)", "py", ['JWT_SECRET_ID = "{kid}"']),
    ("secret read from env", "py", ['JWT_SECRET = os.environ["JWT_SECRET"]']),
    ("templated arn", "py", ['role = f"arn:aws:iam::{{account}}:role/deploy"']),
    ("fernet from get_secret", "py", ['cipher = Fernet(get_secret("FERNET_KEY"))']),
    ("amqp routing key", "py", ['channel.basic_publish(exchange="", routing_key="{word}")']),
    ("pem header in code", "py", ['if text.startswith("-----BEGIN " "PRIVATE KEY-----"):']),
    ("simplejwt reference", "py", ['SIMPLE_JWT = {{"SIGNING_KEY": SECRET_KEY}}']),
    ("jwt from env in js", "js", ["jwt.sign(payload, process.env.JWT_SECRET);"]),
    ("sri in js", "js", ['const integrity = "sha384-{sri512}";']),
    ("uuid in js", "js", ['const requestId = "{uuid}";']),
    ("named b64 digest", "minjs", ['var m={{"sha256":"{sri256}","CodeSha256":"{h1}"}};']),
    ("docs arn", "md", ["Example: `arn:aws:iam::123456789012:role/deploy`."]),
    ("docs access key", "md", [f"aws_access_key_id = {testing.documented_access_key_id()}"]),
    ("docs secret key", "md",
     [f"aws_secret_access_key = {testing.documented_secret_access_key()}"]),
    ("docs webhook", "md", ["https://hooks.slack.com/services/T00000000/B00000000/"
                            "XXXXXXXXXXXXXXXXXXXXXXXX"]),
    ("base64 image", "md", ["![logo](data:image/png;base64,{b64img})"]),
    ("git sha", "rst", ["Fixed in commit {sha1}."]),
    ("base64 image css", "css", ["  background: url(data:image/png;base64,{b64img});"]),
    ("sri sha512", "lock", ['      "integrity": "sha512-{sri512}",']),
    ("sri sha256", "lock", ['      "integrity": "sha256-{sri256}",']),
    ("yarn integrity", "yarnlock", ["  integrity sha512-{sri512}"]),
    ("go.sum h1 in a file", "txt", ["golang.org/x/text v0.3.8 h1:{h1}"]),
    ("wireguard public key", "conf", ["[Peer]", "PublicKey = {h1}"]),
    ("code sha256", "json", ['  "CodeSha256": "{h1}",']),
    ("fingerprint", "json", ['  "fingerprint": "sha256:{hex16}",']),
    ("public jwk", "json", ['  "keys": [{{"kty": "OKP", "crv": "Ed25519", "x": "{jwk_x}"}}],']),
    ("jwt map placeholder", "json", ['  "JWT_SECRETS": {{"k-1": "change-me-before-deploy"}},']),
    ("elb log delivery principal", "json",
     ['  "Principal": {{"AWS": "arn:aws:iam::127311923021:root"}},']),
    ("public lambda layer", "yaml",
     ["  - arn:aws:lambda:eu-west-1:580247275435:layer:LambdaInsightsExtension:38"]),
    ("cfn templated arn", "cfn",
     ["  RoleArn: !Sub arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/rotation"]),
    ("managed policy arn", "cfn", ["  - arn:aws:iam::aws:policy/SecretsManagerReadWrite"]),
    ("bucket arn", "yaml", ["  Resource: arn:aws:s3:::erp-artifacts/*"]),
    ("zero account arn", "yaml", ["  queue: arn:aws:sqs:eu-west-1:000000000000:jobs"]),
    ("yaml binary", "yaml", ["checksum: !!binary {md5_b64}"]),
    ("helm secret key name", "helm",
     ["jwt:", "  existingSecret: erp-secrets", "  secretKey: jwt-signing-key"]),
    ("github secrets reference", "gha", ["          JWT_SECRET: ${{{{ secrets.JWT_SECRET }}}}"]),
    ("1password reference", "env", ["JWT_SECRET=op://erp/jwt/credential"]),
    ("vault reference", "env", ["JWT_SECRET=vault:secret/data/erp#jwt"]),
    ("templated env value", "env", ["FERNET_KEY=${{FERNET_KEY}}"]),
    ("kid in env", "env", ["JWT_SECRET_ID={kid}"]),
    ("secret from a command", "sh", ['export JWT_SECRET="$(vault read -field=value secret/jwt)"']),
    ("sha256sum output", "sh", ["echo '{sha256}  erp-lambda.zip' | sha256sum -c"]),
    ("docs keys in ini", "ini", [f"aws_access_key_id = {testing.documented_access_key_id()}"]),
    ("templated arn in tf", "tf", ['  role_arn = "arn:aws:iam::${{var.account_id}}:role/deploy"']),
    ("source code hash", "tf", ['  source_code_hash = "{sha_b64}"']),
    ("lock hash in toml", "toml", ['hash = "sha256:{sha256}"']),
    ("image digest", "Dockerfile", ["FROM python@sha256:{sha256}"]),
    ("uuid rows", "csv", ["{uuid},{md5},{word}"]),
    ("request ids in logs", "log", ["2026-11-25T12:00:00Z INFO request {uuid} etag {md5}"]),
    ("spring placeholder", "properties", ["jwt.secret=${{JWT_SECRET}}"]),
    ("dotnet user secrets", "config", ['  <add key="JwtSecret" value="{{{{JWT_SECRET}}}}" />']),
    ("maven checksum", "xml", ["<sha256>{sha256}</sha256>"]),
    ("sql hash column", "sql", ["INSERT INTO files (sha256) VALUES ('{sha256}');"]),
]  # fmt: skip


def _lines(value: str) -> list[str]:
    return value.splitlines()


def _kubernetes_secret(v: dict[str, str]) -> tuple[list[str], list[tuple[int, str]]]:
    lines = ["apiVersion: v1", "kind: Secret", "metadata:", "  name: erp", "type: Opaque",
             "data:", f"  aws_secret_access_key: {v['b64_secret']}",
             f"  jwt-secret: {v['b64_jwt']}", f"  tls.key: {v['b64_pem']}",
             f"  username: {v['b64_word']}"]  # fmt: skip
    return lines, [(7, "aws-secret-access-key"), (8, "jwt-secret"), (9, "private-key")]


def _configmap(v: dict[str, str]) -> tuple[list[str], list[tuple[int, str]]]:
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: erp", "data:",
             f"  checksum: {v['sri256']}", f"  user: {v['b64_word']}"]  # fmt: skip
    return lines, [(6, "negative:configmap base64"), (7, "negative:configmap base64")]


def _kubeconfig(v: dict[str, str]) -> tuple[list[str], list[tuple[int, str]]]:
    cert = _b64("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    lines = ["apiVersion: v1", "kind: Config", "users:", "- name: admin", "  user:",
             f"    client-certificate-data: {cert}",
             f"    client-key-data: {v['b64_pem']}"]  # fmt: skip
    return lines, [(6, "negative:client certificate"), (7, "private-key")]


def _pem(v: dict[str, str]) -> tuple[list[str], list[tuple[int, str]]]:
    return _lines(json.loads(v["pem_json"])), [(1, "private-key")]


def _ppk(rng: random.Random) -> tuple[list[str], list[tuple[int, str]]]:
    version = rng.choice("23")
    body = base64.b64encode(rng.randbytes(600)).decode()
    private = [body[i : i + 64] for i in range(0, len(body), 64)]
    lines = [f"PuTTY-User-Key-File-{version}: ssh-rsa", "Encryption: none", "Comment: deploy",
             "Public-Lines: 1", "AAAAB3NzaC1yc2EAAAADAQABAAABAQ", f"Private-Lines: {len(private)}",
             *private, "Private-MAC: " + rng.randbytes(20).hex()]  # fmt: skip
    return lines, [(1, "private-key")]


def _ssh2(rng: random.Random) -> tuple[list[str], list[tuple[int, str]]]:
    body = base64.b64encode(rng.randbytes(600)).decode()
    lines = ["---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----", 'Comment: "rsa-key-20261125"',
             *[body[i : i + 70] for i in range(0, len(body), 70)],
             "---- END SSH2 ENCRYPTED PRIVATE KEY ----"]  # fmt: skip
    return lines, [(1, "private-key")]


def _go_sum(rng: random.Random) -> tuple[list[str], list[tuple[int, str]]]:
    lines = []
    for index in range(rng.randint(20, 60)):
        module = f"github.com/erp-{index}/lib v1.{index}.0"
        lines += [f"{module} h1:{_plain_b64_32(rng)}", f"{module}/go.mod h1:{_plain_b64_32(rng)}"]
    return lines, [(n, "negative:go.sum h1") for n in range(1, len(lines) + 1)]


def _terraform_lock(rng: random.Random) -> tuple[list[str], list[tuple[int, str]]]:
    lines = ['provider "registry.terraform.io/hashicorp/aws" {', '  version     = "5.31.0"',
             "  hashes = ["]  # fmt: skip
    lines += [f'    "h1:{_plain_b64_32(rng)}",' for _ in range(rng.randint(3, 8))]
    lines += [f'    "zh:{rng.randbytes(32).hex()}",' for _ in range(5)] + ["  ]", "}"]
    labels = [(n, "negative:terraform lock hash") for n in range(4, len(lines) - 1)]
    return lines, labels


def _vault(rng: random.Random) -> tuple[list[str], list[tuple[int, str]]]:
    ids = [f"k-20261{i}01T120000Z-{rng.randbytes(3).hex()}" for i in range(rng.randint(1, 3))]
    entries = [f'    "{kid}": "{testing.jwt_secret(rng)}"' for kid in ids]
    commas = [e + ("," if i < len(entries) - 1 else "") for i, e in enumerate(entries)]
    lines = ["{", '  "JWT_SECRETS": {', *commas, "  },", f'  "JWT_SECRET_ID": "{ids[-1]}"', "}"]
    return lines, [(3 + i, "jwt-secret") for i in range(len(entries))]


# (format, file name, maker): a whole file of its own, labels by line.
_Maker = Callable[[Any], tuple[list[str], list[tuple[int, str]]]]
SPECIAL_FILES: list[tuple[str, str, str, _Maker]] = [
    ("k8s", "{i}/secret.yaml", "values", _kubernetes_secret),
    ("k8s", "{i}/configmap.yaml", "values", _configmap),
    ("kubeconfig", "{i}/kubeconfig", "values", _kubeconfig),
    ("pem", "keys/deploy_{i}.pem", "values", _pem),
    ("ppk", "keys/deploy_{i}.ppk", "rng", _ppk),
    ("ssh2", "keys/id_ssh2_{i}", "rng", _ssh2),
    ("gosum", "{i}/go.sum", "rng", _go_sum),
    ("hcllock", "{i}/.terraform.lock.hcl", "rng", _terraform_lock),
    ("vault", "config/{i}/jwt_secrets.json", "rng", _vault),
]
