"""The allow rules: inline pragma, the shared baseline, and documentation examples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from detect_secrets.core.potential_secret import PotentialSecret

from erp.scan import Baseline, BaselineError, hash_secret, load_baseline, scan_bytes, testing
from erp.scan.ds_filters import is_documentation_example as ds_example_filter
from erp.scan.rules import DOCUMENTATION_ACCOUNTS, is_documentation_account


@pytest.mark.parametrize(
    "template",
    [
        'FERNET_KEY = "{v}"  # pragma: allowlist secret',
        'const fernetKey = "{v}"; // pragma: allowlist secret',
        "FERNET_KEY={v} # pragma:allowlist secret",
        "# pragma: allowlist nextline secret\nFERNET_KEY={v}",
    ],
)
def test_pragma_on_the_line_or_the_line_before_suppresses_a_finding(template: str) -> None:
    """detect-secrets' pragma (same line, or nextline form above) allows a reviewed value."""
    report = scan_bytes(template.format(v=testing.fernet_key()).encode(), "conf.py")
    assert (report.findings, report.suppressed["pragma"]) == ([], 1)


def test_pragma_elsewhere_does_not_suppress() -> None:
    """A pragma two lines up, or a nextline pragma on the same line, allows nothing."""
    key = testing.fernet_key()
    content = (
        f'# pragma: allowlist nextline secret\n\nFERNET_KEY = "{key}"\n'
        f'FERNET_KEY_2 = "{key}"  # nextline\n'
    )
    assert [f.line for f in scan_bytes(content.encode(), "conf.py").findings] == [3, 4]


@pytest.mark.parametrize(
    "previous",
    [
        "x = 1  # pragma: allowlist nextline secret",
        'note = "pragma: allowlist nextline secret"',
        '"pragma: allowlist nextline secret",',
        "'pragma: allowlist nextline secret'",
    ],
)
def test_nextline_pragma_must_be_a_whole_comment_line(previous: str) -> None:
    """After code on its line, or inside a string, the nextline pragma allows nothing (as in
    detect-secrets: only blanks may precede its comment opener)."""
    key = testing.fernet_key()
    content = f'{previous}\nFERNET_KEY = "{key}"\n'
    assert [f.line for f in scan_bytes(content.encode(), "conf.py").findings] == [2]


@pytest.mark.parametrize(
    "previous",
    [
        "    # pragma: allowlist nextline secret",
        "\t// pragma: allowlist nextline secret",
        "<!-- pragma: allowlist nextline secret -->",
        "-- pragma: allowlist-nextline-secret",
    ],
)
def test_nextline_pragma_on_an_indented_comment_line_suppresses(previous: str) -> None:
    """Indentation before the comment opener is fine."""
    content = f'{previous}\nFERNET_KEY = "{testing.fernet_key()}"\n'
    report = scan_bytes(content.encode(), "conf.py")
    assert (report.findings, report.suppressed["pragma"]) == ([], 1)


@pytest.mark.parametrize(
    ("template", "line"),
    [
        ('# pragma: allowlist secret\rFERNET_KEY = "{v}"\n', 2),
        ('# pragma: allowlist nextline secret\rx = 1\rFERNET_KEY = "{v}"\n', 3),
        ('x = 1\r\n# pragma: allowlist secret\r\rFERNET_KEY = "{v}"\r\n', 4),
        ('FERNET_KEY = "{v}"\u2028# pragma: allowlist secret\n', 1),
        ('FERNET_KEY = "{v}"\x0c# pragma: allowlist secret\n', 1),
        ('# pragma: allowlist nextline secret\u2029\nFERNET_KEY = "{v}"\n', 2),
    ],
)
def test_a_pragma_allows_only_its_own_line_however_lines_are_broken(
    template: str, line: int
) -> None:
    """A lone carriage return ends a line (as Python, detect-secrets and editors read it), so a
    pragma before it allows nothing after it; a line holding another line separator (U+2028,
    form feed, ...) carries no pragma at all."""
    content = template.format(v=testing.fernet_key())
    report = scan_bytes(content.encode(), "conf.py")
    assert ([f.line for f in report.findings], report.suppressed["pragma"]) == ([line], 0)


def test_line_numbers_count_crlf_once_and_a_lone_cr_as_a_break() -> None:
    """Findings are numbered as Python's universal newlines number lines: \\r\\n, \\r, \\n."""
    key = testing.fernet_key()
    content = f'a = 1\r\nb = 2\rc = 3\nFERNET_KEY = "{key}"  # pragma: allowlist secret\r\n'
    content += f'FERNET_KEY_2 = "{key}"\r\n'
    report = scan_bytes(content.encode(), "conf.py")
    assert [f.line for f in report.findings] == [len(content.splitlines())] == [5]
    assert report.suppressed["pragma"] == 1


def test_pragma_suppresses_only_its_own_line_of_a_multi_line_map() -> None:
    """In a JWT_SECRETS map, the pragma on one entry leaves the other entries reported."""
    a, b = testing.jwt_secret(), testing.jwt_secret()
    content = f"JWT_SECRETS:\n  k-1: {a}  # pragma: allowlist secret\n  k-2: {b}\n"
    assert [f.line for f in scan_bytes(content.encode(), "values.yaml").findings] == [3]


@pytest.mark.parametrize(
    "account", [*sorted(DOCUMENTATION_ACCOUNTS), "000000000000", "999999999999"]
)
def test_documentation_accounts_are_examples(account: str) -> None:
    """Rule 3: AWS's documentation accounts and repeated digits mark an ARN as an example."""
    assert is_documentation_account(account)
    report = scan_bytes(f"arn:aws:iam::{account}:role/admin\n".encode(), "README.md")
    assert (report.findings, report.suppressed["example"]) == ([], 1)


def test_a_real_looking_account_is_not_an_example() -> None:
    """Any other 12 digits name an account and are reported."""
    account = testing.aws_account()
    assert not is_documentation_account(account)
    assert len(scan_bytes(f"arn:aws:iam::{account}:root\n".encode(), "README.md").findings) == 1


@pytest.mark.parametrize("slug", ["fernet-key", "aws-access-key-id", "pagerduty-routing-key"])
def test_a_value_containing_example_is_a_documentation_example(slug: str) -> None:
    """Rule 1: a value with the upper-case word EXAMPLE in it is never reported."""
    value = testing.make(slug)
    value = value[: len(value) - 8] + "EXAMPLE" + value[-1]
    content = {
        "fernet-key": f'FERNET_KEY = "{value}"',
        "aws-access-key-id": f"AWS_ACCESS_KEY_ID={value}",
        "pagerduty-routing-key": f'routing_key = "{value}"',
    }[slug]
    report = scan_bytes(content.encode(), "docs.md")
    assert report.findings == []


@pytest.mark.parametrize(
    "resource", ["role/EXAMPLE-deployer", "secret:prod-db&ref=EXAMPLE", "role/deployEXAMPLE"]
)
def test_example_in_an_arn_does_not_hide_a_real_account(resource: str) -> None:
    """Rule 1 is not for ARNs: only the account (rules 3 and 4) makes an ARN an example, in
    erp-secrets scan and in the detect-secrets filter."""
    arn = f"arn:aws:iam::{testing.aws_account()}:{resource}"
    report = scan_bytes(f'role = "{arn}"\n'.encode(), "deploy.py")
    assert [(f.slug, f.hashed_secret) for f in report.findings] == [("aws-arn", hash_secret(arn))]
    assert not ds_example_filter(arn)
    assert scan_bytes(b"arn:aws:iam::123456789012:role/EXAMPLE\n", "a.md").findings == []


def _baseline(path: Path, results: dict[str, list[dict[str, object]]]) -> Path:
    path.write_text(json.dumps({"version": "1.5.0", "results": results}), encoding="utf-8")
    return path


def test_baselined_finding_is_suppressed_in_its_file_only(tmp_path: Path) -> None:
    """A (file, type, hash) in the baseline is suppressed; the same secret elsewhere is not."""
    key = testing.fernet_key()
    entry = {"type": "Fernet Key", "hashed_secret": hash_secret(key), "line_number": 9}
    baseline = load_baseline(_baseline(tmp_path / ".secrets.baseline", {"conf.py": [entry]}))
    content = f'FERNET_KEY = "{key}"\n'.encode()
    known, other = scan_bytes(content, "conf.py"), scan_bytes(content, "other.py")
    known.apply_baseline(baseline)
    other.apply_baseline(baseline)
    assert (known.findings, known.suppressed["baseline"]) == ([], 1)
    assert [f.path for f in other.findings] == ["other.py"]


def test_hash_is_the_one_detect_secrets_stores() -> None:
    """Both scanners share one baseline: the hash is detect-secrets' own."""
    value = testing.jwt_secret()
    assert PotentialSecret.hash_secret(value) == hash_secret(value)


def test_missing_baseline_is_empty(tmp_path: Path) -> None:
    """No baseline file means nothing is suppressed (a fresh repository)."""
    assert len(load_baseline(tmp_path / "absent")) == 0


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not JSON"),
        ('{"version": "1.5.0"}', "no 'results'"),
        ('{"results": {"a.py": [{"type": "Fernet Key"}]}}', "lacks 'type' or 'hashed_secret'"),
    ],
)
def test_broken_baseline_is_one_clear_error(tmp_path: Path, content: str, problem: str) -> None:
    """A broken baseline names the file, the problem and how to regenerate it."""
    path = tmp_path / ".secrets.baseline"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(BaselineError) as caught:
        load_baseline(path)
    assert str(path) in str(caught.value)
    assert problem in str(caught.value)
    assert "detect-secrets scan --baseline" in str(caught.value)


def test_empty_baseline_object_covers_nothing() -> None:
    """The default Baseline() suppresses nothing."""
    assert not Baseline().covers("a.py", "Fernet Key", "0" * 40)
