"""The peers' public rule tests as a second corpus: gitleaks and detect-secrets.

Written here in our own words and format, with the source named on each list; values are made
at run time (``erp.scan.testing``), never copied. Every disagreement with a peer is either
fixed or a documented choice (:data:`CHOICES`, and docs/scanning.md "Where we differ").

Sources:
* gitleaks ``cmd/generate/config/utils/generate.go`` ``GenerateSampleSecrets``: the assignment
  syntaxes its rule generator checks every semi-generic rule against (and its TODO list);
* gitleaks ``cmd/generate/config/rules/{aws,privatekey,slack}.go``: true/false positives;
* detect-secrets ``tests/plugins/{aws_key,private_key,slack,keyword}_test.py``.
"""

from __future__ import annotations

import base64
import os
import random

import pytest

from erp.scan import find_secrets, testing


def found(content: str, name: str = "sample.txt") -> list[tuple[str, str]]:
    """(slug, value) of every match no allow rule lets through."""
    return [(d.slug, h.value) for d, _, h in find_secrets(content.encode(), name) if not h.example]


# --- gitleaks' rule-generator syntaxes, filled with our names ----------------------------
# {camel} stands for gitleaks' "{i}Token", {snake} for "{i}_token", {upper} for "{i}_TOKEN".

GITLEAKS_SYNTAXES = {
    "ini - quoted1": '{camel}="{s}"',
    "ini - quoted2": '{camel} = "{s}"',
    "ini - unquoted1": "{camel}={s}",
    "ini - unquoted2": "{camel} = {s}",
    "json - string": '{{\n    "{snake}": "{s}"\n}}',
    "json - escaped string": '\\{{\n    \\"{snake}\\": \\"{s}\\"\n\\}}',
    "json - string key/value (TODO upstream)": '{{\n    "name": "{snake}",\n    "value": "{s}"\n}}',
    "xml - element": "<{camel}>{s}</{camel}>",
    "xml - element multiline": "<{camel}>\n    {s}\n</{camel}>",
    "xml - attribute (TODO upstream)": '<entry name="{camel}" value="{s}" />',
    "xml - key/value elements (TODO upstream)":
        '<entry>\n  <name>{camel}</name>\n  <value>{s}</value>\n</entry>',
    "yaml - singleline - unquoted": "{snake}: {s}",
    "yaml - singleline - single quote": "{snake}: '{s}'",
    "yaml - singleline - double quote": '{snake}: "{s}"',
    "yaml - multiline - literal": "{snake}: |\n  {s}",
    "yaml - multiline - folding": "{snake}: >\n  {s}",
    "C#": 'string {camel} = "{s}";',
    "go - normal": 'var {camel} string = "{s}"',
    "go - short": '{camel} := "{s}"',
    "go - backticks": "{camel} := `{s}`",
    "java": 'String {camel} = "{s}";',
    "kotlin - type (TODO upstream)": 'var {camel}: String = "{s}"',
    "kotlin - notype": 'var {camel} = "{s}"',
    "php - string concat": '${camel} .= "{s}"',
    "php - null coalesce (TODO upstream)": '${camel} ??= "{s}"',
    "python - single quote": "{camel} = '{s}'",
    "python - double quote": '{camel} = "{s}"',
    "csv - unquoted": "{camel},{s},",
    "logstash": '  "{camel}" => "{s}"',
    "make - recursive assignment": '{upper} = "{s}"',
    "make - simple assignment": '{upper} := "{s}"',
    "make - shell assignment": '{upper} ::= "{s}"',
    "make - evaluated shell assignment": '{upper} :::= "{s}"',
    "make - conditional assignment": '{upper} ?= "{s}"',
    "make - append": '{upper} += "{s}"',
}  # fmt: skip

OUR_NAMES = {
    "aws-secret-access-key": ("awsSecretAccessKey", "aws_secret_access_key"),
    "jwt-secret": ("jwtSecret", "jwt_secret"),
    "pagerduty-routing-key": ("pagerdutyRoutingKey", "pagerduty_routing_key"),
}


@pytest.mark.parametrize("slug", sorted(OUR_NAMES))
@pytest.mark.parametrize("syntax", sorted(GITLEAKS_SYNTAXES))
def test_gitleaks_generator_syntaxes_with_our_names(slug: str, syntax: str) -> None:
    """Each of gitleaks' assignment syntaxes (its TODO ones too) finds each name-bound kind."""
    camel, snake = OUR_NAMES[slug]
    value = testing.make(slug)
    content = GITLEAKS_SYNTAXES[syntax].format(
        camel=camel, snake=snake, upper=snake.upper(), s=value
    )
    assert (slug, value) in found(content), syntax


@pytest.mark.parametrize("syntax", sorted(GITLEAKS_SYNTAXES))
@pytest.mark.parametrize("prefix", ["AKIA", "ASIA", "ABIA", "ACCA"])
def test_gitleaks_aws_access_token_true_positives(syntax: str, prefix: str) -> None:
    """gitleaks aws.go: every prefix, base32 body, in every syntax (identifier "AWS")."""
    key_id = testing.access_key_id(prefix=prefix)
    content = GITLEAKS_SYNTAXES[syntax].format(
        camel="AWSToken", snake="AWS_token", upper="AWS_TOKEN", s=key_id
    )
    assert ("aws-access-key-id", key_id) in found(content)


def _dna(rng: random.Random) -> str:
    """A gap-annotated DNA alignment as in gitleaks' false positive, with an ACCA run in it."""
    parts = ["".join(rng.choice("ACGT") for _ in range(rng.randint(3, 40))) for _ in range(60)]
    parts.insert(30, "ACCA" + "".join(rng.choice("ACGT") for _ in range(16)))
    return "-".join(parts)


@pytest.mark.parametrize(
    "content",
    [
        "key = AKIA" + "X" * 16,  # low entropy
        "aws_access_key: AKIA" + "IOSFODNN7EXAMPLE",  # AWS's documentation key
        'msgstr "Näytä asiakirjamallikansio."',  # lower case
        "TODAYINASIAASACKOFRICEFELLOVER",  # wrong length
        _dna(random.Random(1222)),
    ],
)
def test_gitleaks_aws_access_token_false_positives(content: str) -> None:
    """gitleaks aws.go false positives stay quiet."""
    assert found(content) == []


def _pem_body(size: int) -> str:
    return base64.b64encode(os.urandom(size)).decode()


@pytest.mark.parametrize(
    "content",
    [
        # privatekey.go: one long body line (an OpenSSH key under a PKCS#8 label) ...
        f"{testing.pem_armour('BEGIN')}\n{{one_line}}\n{testing.pem_armour('END')}",
        # ... and a short RSA key with "==" padding and a trailing newline.
        f"{testing.pem_armour('BEGIN', 'RSA PRIVATE KEY')}\n{{padded}}\n"
        f"{testing.pem_armour('END', 'RSA PRIVATE KEY')}\n",
    ],
)
def test_gitleaks_private_key_true_positives(content: str) -> None:
    """gitleaks privatekey.go true positives (bodies made here)."""
    padded = _pem_body(298)
    assert padded.endswith("==")
    text = content.format(one_line=_pem_body(390), padded=padded)
    assert [slug for slug, _ in found(text)] == ["private-key"]


def _alnum(count: int) -> str:
    return "".join(random.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
                   for _ in range(count))  # fmt: skip


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.slack.com/services/T{t}/B{b}/{token}",
        "https://hooks.slack.com/services/T{t}/B{b}/{token}",
        "hooks.slack.com/services/T{t}/B{b}/{token}",
        "https://hooks.slack.com/workflows/T{t}/A{b}/442660231806210747/{token}",
        "http://hooks.slack.com/workflows/T{t}/A{b}/430780826188280067/{token}",
    ],
)
def test_gitleaks_slack_webhook_true_positives(url: str) -> None:
    """gitleaks slack.go webhook true positives with the team/channel/token structure."""
    value = url.format(t=_alnum(8).upper(), b=_alnum(9).upper(), token=_alnum(24))
    assert found(value) == [("slack-webhook", value)]


@pytest.mark.parametrize("path", ["services/{n44}", "workflows/{n44}", "triggers/{n56}"])
def test_gitleaks_unstructured_slack_samples_are_a_documented_difference(path: str) -> None:
    """CHOICE: gitleaks' generated samples (44-56 random characters, no T…/B… structure) are
    not webhook URLs Slack issues; we require the team id and token segments."""
    url = "https://hooks.slack.com/" + path.format(n44=_alnum(44), n56=_alnum(56))
    assert found(url) == []


# --- detect-secrets plugin tests ---------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "reported"),
    [
        (testing.access_key_id(), True),  # aws_key_test: a key id alone is flagged
        ("akia" + "z" * 16, False),  # lower case
        ("AKIAZZZ", False),  # too short
        # CHOICE: detect-secrets flags AKIA + 16 x "Z"; for us a body of one repeated
        # character is a documentation example (rules.py, rule 2).
        ("AKIA" + "Z" * 16, False),
    ],
)
def test_detect_secrets_aws_key_cases(content: str, reported: bool) -> None:
    """detect-secrets aws_key_test.py test_analyze."""
    assert bool(found(content)) is reported


@pytest.mark.parametrize(
    "template",
    [
        "aws_secret_access_key = {s}",  # no quotes
        'secret_key = "{s}"',  # with quotes
        "base64_keyA = '{other}'\naws_secret = '{s}'\nbase64_keyB = '{long}'",  # candidates
    ],
)
def test_detect_secrets_get_secret_access_key_cases(template: str) -> None:
    """detect-secrets aws_key_test.py test_get_secret_access_key, with fresh secrets.

    CHOICE: its third case also returns "TEST" * 10 assigned to base64_keyA; we need a
    secret-key name (and both letter cases) before calling a 40-character string one.
    """
    secret = testing.secret_access_key()
    content = template.format(s=secret, other="TEST" * 10, long="EXAMPLE" * 7)
    assert found(content) == [("aws-secret-access-key", secret)]


def test_detect_secrets_private_key_cases() -> None:
    """detect-secrets private_key_test.py: a JSON-escaped RSA key and a PKCS#8 key are found.

    CHOICE: its third case, a bare "PuTTY-User-Key-File-2" header with no key body, is not a
    key for us (code that checks for the header is not a leak); a .ppk file is (test_scan_forms).
    """
    import json

    escaped = json.dumps(testing.private_key_pem(label="RSA PRIVATE KEY"))
    pkcs8 = "some text here\n" + testing.private_key_pem(label="PRIVATE KEY")
    assert [slug for slug, _ in found(escaped, "k.json")] == ["private-key"]
    assert [slug for slug, _ in found(pkcs8, "k.pem")] == ["private-key"]
    assert found("some text here\nPuTTY-User-Key-File-2\nsecret key") == []


def test_detect_secrets_slack_placeholder_is_a_documented_difference() -> None:
    """CHOICE: detect-secrets flags a Slack webhook whose team, bot and token parts are all x;
    a token of one repeated character is a documentation placeholder for us (rule 2)."""
    url = "https://hooks.slack.com/services/Txxxxxxxx/Bxxxxxxxx/" + "x" * 24
    assert found(url) == []


# detect-secrets keyword_test.py assignment forms, with our JWT secret name and a fresh value.
KEYWORD_POSITIVES = [
    'jwt_secret := "{s}"', 'jwt_secret :="{s}"', 'jwt_secret  :=   "{s}"', "jwt_secret := '{s}'",
    'jwt_secret:= "{s}"', 'jwt_secret:="{s}"', "jwt_secret:='{s}'", "jwt_secret := {s}",
    "jwt_secret:={s}", "'jwt_secret': '{s}'", '"jwt_secret": "{s}"', 'jwt_secret: "{s}"',
    "jwt_secret:  '{s}'", "jwt_secret: {s}", "jwt_secret:{s}", 'jwt_secret = "{s}"',
    'jwt_secret =   "{s}"', 'jwt_secret = @"{s}"', 'jwt_secret  =   @"{s}"', 'jwt_secret[]= "{s}"',
    'jwt_secret[]="{s}"', 'some_dict["jwt_secret"] = "{s}"', "the_jwt_secret= '{s}'\n",
    "some_dict['jwt_secret'] = {s}", "my_jwt_secret={s}", "my_jwt_secret = {s}",
    'jwt_secret "{s}";', "jwt_secret '{s}';",
]  # fmt: skip
KEYWORD_NEGATIVES = [
    'jwt_secret := ""', 'jwt_secret := "somefakesecretvalue"', "jwt_secret_for_foo := {s}",
    'jwt_secret: ""', "jwt_secret: ${{link}}", 'jwt_secret = ""', "jwt_secret = ''",
    'jwt_secret = "fakesecretvalue12"', 'open(self, jwt_secret = ""):',
    "jwt_secret = foo(hey)you", "jwt_secret = request.json_body['hey']", "jwt_secret = True",
    "login(username=username, jwt_secret=jwt_secret)", 'jwt_secret "";',
    "jwt_secret: this.jwtSecret,", "jwt_secret: fs.readFileSync('foo',", "$jwt_secret = $input;",
]  # fmt: skip


@pytest.mark.parametrize("template", KEYWORD_POSITIVES)
@pytest.mark.parametrize("name", ["settings.cfg", "main.go"])
def test_detect_secrets_keyword_positives_with_a_jwt_name(template: str, name: str) -> None:
    """detect-secrets keyword_test.py positives (its Go and standard lists).

    CHOICE: its "fooapikeyfoo" forms (the keyword inside a longer word) are not ours: a JWT
    name must start a word; its value with "${" and "{{" is a template for us, so a fresh
    secret stands in.
    """
    value = testing.jwt_secret()
    if name.endswith(".go") and template.split("{s}")[0][-1:] not in "\"'":
        pytest.skip("bare words in source code are expressions (a documented choice)")
    assert ("jwt-secret", value) in found(template.format(s=value), name)


@pytest.mark.parametrize("template", KEYWORD_NEGATIVES)
@pytest.mark.parametrize("name", ["settings.cfg", "app.js", "index.php", "app.py"])
def test_detect_secrets_keyword_negatives_with_a_jwt_name(template: str, name: str) -> None:
    """detect-secrets keyword_test.py negatives: empty, fake, templated, expressions."""
    assert found(template.format(s=testing.jwt_secret()), name) == []
