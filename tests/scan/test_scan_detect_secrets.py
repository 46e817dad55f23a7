"""The detectors as detect-secrets plugins, the filter swap, and the committed baseline."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.core.scan import scan_line
from detect_secrets.core.secrets_collection import SecretsCollection
from detect_secrets.settings import default_settings, transient_settings

from erp.scan import hash_secret, scan_bytes, testing
from erp.scan.ds_config import PLUGIN_FILE, settings

from .conftest import ROOT, Plant, call_argument_plants, plants


@contextlib.contextmanager
def project_settings() -> Iterator[None]:
    """detect-secrets configured as the project's hook is (plugins by absolute path)."""
    with transient_settings(settings("file://" + str(PLUGIN_FILE))):
        yield


@contextlib.contextmanager
def plain_settings() -> Iterator[None]:
    """detect-secrets' defaults, its own plugins only.

    It caches every plugin class it has loaded, custom ones included, and its defaults enable
    all cached classes: forget them first.
    """
    get_mapping_from_secret_type_to_class.cache_clear()
    try:
        with default_settings():
            yield
    finally:
        get_mapping_from_secret_type_to_class.cache_clear()


def ds_findings(folder: Path, plant: Plant) -> set[tuple[str, str]]:
    """(secret type, hashed secret) of what detect-secrets reports for a planted file."""
    target = folder / plant.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(plant.content, encoding="utf-8")
    collection = SecretsCollection(root=str(folder))
    with contextlib.chdir(folder):
        collection.scan_file(plant.filename)
    return {(s.type, s.secret_hash) for _, s in collection}


@pytest.mark.parametrize("plant", plants(), ids=lambda p: p.slug)
def test_detect_secrets_with_the_plugins_reports_what_erp_scan_reports(
    tmp_path: Path, plant: Plant
) -> None:
    """Each plugin reports the same type and hash as erp-secrets scan: one baseline serves both."""
    ours = {
        (f.detector, f.hashed_secret)
        for f in scan_bytes(plant.content.encode(), plant.filename).findings
    }
    with project_settings():
        theirs = ds_findings(tmp_path, plant)
    assert ours
    assert ours <= theirs


@pytest.mark.parametrize("plant", call_argument_plants(), ids=lambda p: p.filename)
def test_secret_passed_as_call_argument_is_caught_with_the_filter_swap(
    tmp_path: Path, plant: Plant
) -> None:
    """boto3.client(aws_access_key_id=...), Fernet(b"...") and assume_role(RoleArn=...) are
    blocked by the project's detect-secrets configuration and by erp-secrets scan."""
    assert plant.slug in {f.slug for f in scan_bytes(plant.content.encode(), "x.py").findings}
    with project_settings():
        found = ds_findings(tmp_path, plant)
    assert (plant.detector, hash_secret(plant.secret)) in found


@pytest.mark.parametrize("plant", call_argument_plants(), ids=lambda p: p.filename)
def test_plain_detect_secrets_misses_secrets_passed_as_call_arguments(
    tmp_path: Path, plant: Plant
) -> None:
    """Why the filter swap exists: with its defaults, detect-secrets reports none of these
    (no ARN or Fernet rule, and is_indirect_reference drops the AWS key). If this starts
    failing, upstream fixed it and the swap may go."""
    with plain_settings():
        assert ds_findings(tmp_path, plant) == set()


def test_plugins_scan_ad_hoc_strings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`detect-secrets scan --string` style scanning (no file) uses the given line."""
    monkeypatch.chdir(tmp_path)
    key = testing.fernet_key()
    with project_settings():
        found = {s.type for s in scan_line(f'cipher = Fernet(b"{key}")')}
    assert "Fernet Key" in found


def test_documentation_example_filter_applies_to_builtin_plugins(tmp_path: Path) -> None:
    """The stated example rule is a detect-secrets filter too: a built-in Slack plugin lets
    the documentation placeholder webhook through."""
    placeholder = "https://hooks.slack.com/services/T00000000/B00000000/" + "X" * 24
    plant = Plant("slack-webhook", "Slack Webhook URL", "README.md", f"<{placeholder}>\n", "")
    with project_settings():
        assert ds_findings(tmp_path, plant) == set()
    with plain_settings():
        assert {t for t, _ in ds_findings(tmp_path, plant)} == {"Slack Token"}


def _committed_baseline() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((ROOT / ".secrets.baseline").read_text(encoding="utf-8"))
    return doc


def test_committed_baseline_uses_the_project_configuration() -> None:
    """.secrets.baseline lists exactly the plugins and filters of erp.scan.ds_config, with the
    plugin file given relative to the repository root."""
    baseline = _committed_baseline()
    expected = settings("file://src/erp/scan/ds_plugins.py")
    assert baseline["plugins_used"] == expected["plugins_used"]
    assert baseline["filters_used"] == expected["filters_used"]
    assert (ROOT / "src/erp/scan/ds_plugins.py").is_file()


def test_committed_baseline_has_no_unreviewed_entries() -> None:
    """Every result in the project baseline was audited as a false positive."""
    results = _committed_baseline()["results"]
    unreviewed = [
        (name, entry["type"])
        for name, entries in results.items()
        for entry in entries
        if entry.get("is_secret") is not False
    ]
    assert unreviewed == []


def ds_lines(folder: Path, name: str, content: bytes) -> set[tuple[str, int]]:
    """(secret type, line number) of what detect-secrets with the project's plugins reports."""
    target = folder / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    collection = SecretsCollection(root=str(folder))
    with project_settings(), contextlib.chdir(folder):
        collection.scan_file(name)
    return {(s.type, s.line_number) for _, s in collection}


def test_plugins_number_lines_as_detect_secrets_does(tmp_path: Path) -> None:
    """\\r\\n, a lone \\r and \\n each end a line for detect-secrets; the plugins report on the
    same numbers (a pragma line before a lone \\r allows nothing), so nothing is dropped."""
    key, arn = testing.access_key_id(), testing.aws_arn()
    content = (
        f"a = 1\r\n# pragma: allowlist secret\rKEY = '{key}'\r\nb = 2\rc = 3\nROLE = '{arn}'\r\n"
    ).encode()
    ours = {(f.detector, f.line) for f in scan_bytes(content, "mixed.py").findings}
    assert ours == {("AWS Access Key ID", 3), ("AWS ARN", 6)}
    assert ds_lines(tmp_path, "mixed.py", content) == ours


@pytest.mark.parametrize(
    ("name", "template"),
    [
        ("deployment.yaml", "env:\n  - name: JWT_SECRETS\n    value: '{{\"k-1\": \"{v}\"}}'\n"),
        ("task.json", '[{{"name":"JWT_SECRETS","value":"{{\\"k\\": \\"{v}\\"}}"}}]'),
    ],
)  # fmt: skip
def test_plugins_report_jwt_secrets_in_name_value_pairs(
    tmp_path: Path, name: str, template: str
) -> None:
    """A JWT_SECRETS map as a Kubernetes or ECS environment value, found by both scanners."""
    secret = testing.jwt_secret()
    plant = Plant("jwt-secret", "JWT Signing Secret", name, template.format(v=secret), secret)
    assert [f.slug for f in scan_bytes(plant.content.encode(), name).findings] == ["jwt-secret"]
    with project_settings():
        assert ds_findings(tmp_path, plant) == {("JWT Signing Secret", hash_secret(secret))}


def test_example_in_an_arn_is_reported_by_the_plugin_and_kept_by_the_filter(
    tmp_path: Path,
) -> None:
    """The documentation-example filter leaves ARNs to the ARN plugin's account rule."""
    arn = f"arn:aws:iam::{testing.aws_account()}:role/EXAMPLE-deployer"
    plant = Plant("aws-arn", "AWS ARN", "deploy.py", f'ROLE = "{arn}"\n', arn)
    with project_settings():
        assert ds_findings(tmp_path, plant) == {("AWS ARN", hash_secret(arn))}
