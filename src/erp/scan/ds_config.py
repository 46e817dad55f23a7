"""The detect-secrets configuration the project's hook runs with, and baselines made from it.

* Plugins: the project's eight (:mod:`erp.scan.ds_plugins`) plus detect-secrets' built-ins for
  vendor tokens with a fixed shape. Its AWS and private-key plugins are replaced by ours (which
  add ARNs, secret keys beside their name, and PEM bodies); keyword, entropy, basic-auth and
  public-IP plugins are left out: on real trees most of what they report is not a secret. So is
  the JSON Web Token plugin: a token is not a signing secret, and the JWT tests of this project
  hold hand-made malformed tokens on purpose.
* Filters: detect-secrets' defaults, minus ``is_indirect_reference`` (it drops keys passed as
  call arguments: ``boto3.client(..., aws_access_key_id="AKIA...")``, ``Fernet(b"...")``) and
  ``is_potential_uuid`` (it drops ARNs whose resource id is a UUID), ``is_lock_file`` and
  ``is_swagger_file`` (files are selected by one rule for both hooks, see
  :mod:`erp.scan.ds_hook`), plus the stated documentation-example rule.

Importing this module does not import detect-secrets; its functions do.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

from erp.scan.detectors import DETECTORS

__all__ = [
    "BUILTIN_PLUGINS",
    "DISABLED_FILTERS",
    "EXTRA_FILTERS",
    "PLUGIN_FILE",
    "create_baseline",
    "plugin_path_for",
    "settings",
    "write_baseline",
]

PLUGIN_FILE = Path(__file__).with_name("ds_plugins.py")

BUILTIN_PLUGINS = (
    "AzureStorageKeyDetector",
    "DiscordBotTokenDetector",
    "GitHubTokenDetector",
    "GitLabTokenDetector",
    "MailchimpDetector",
    "NpmDetector",
    "OpenAIDetector",
    "PypiTokenDetector",
    "SendGridDetector",
    "SlackDetector",
    "SquareOAuthDetector",
    "StripeDetector",
    "TelegramBotTokenDetector",
    "TwilioKeyDetector",
)

DISABLED_FILTERS = (
    "detect_secrets.filters.heuristic.is_indirect_reference",
    "detect_secrets.filters.heuristic.is_potential_uuid",
    # Both hooks select files by one rule, by content (erp.scan.files.skip_reason): no file is
    # skipped for its name (go.sum, package-lock.json, swagger files hold keys too).
    "detect_secrets.filters.heuristic.is_lock_file",
    "detect_secrets.filters.heuristic.is_swagger_file",
)
EXTRA_FILTERS = ("erp.scan.ds_filters.is_documentation_example",)


def plugin_path_for(root: Path) -> str:
    """``file://`` path of the plugin file: relative to ``root`` if inside it, else absolute.

    detect-secrets resolves a relative path against the directory it runs in (pre-commit runs
    hooks from the repository root), so this project's baseline stays portable.
    """
    plugin = PLUGIN_FILE.resolve()
    try:
        return "file://" + plugin.relative_to(root.resolve()).as_posix()
    except ValueError:
        return "file://" + plugin.as_posix()


def settings(plugin_path: str, baseline_name: str = ".secrets.baseline") -> dict[str, Any]:
    """``plugins_used`` and ``filters_used`` of the project's detect-secrets configuration."""
    from detect_secrets.settings import Settings

    defaults = sorted(set(Settings().filters) - set(Settings.DEFAULT_FILTERS))
    filters: list[dict[str, Any]] = [
        {"path": path} for path in defaults if path not in DISABLED_FILTERS
    ]
    filters += [{"path": path} for path in EXTRA_FILTERS]
    filters.append(
        {"path": "detect_secrets.filters.common.is_baseline_file", "filename": baseline_name}
    )
    plugins: list[dict[str, Any]] = [{"name": name} for name in BUILTIN_PLUGINS]
    plugins += [{"name": d.plugin, "path": plugin_path} for d in DETECTORS]
    return {
        "plugins_used": sorted(plugins, key=lambda p: str(p["name"]).lower()),
        "filters_used": sorted(filters, key=lambda f: str(f["path"]).lower()),
    }


def create_baseline(
    root: Path, plugin_path: str | None = None, baseline_name: str = ".secrets.baseline"
) -> dict[str, Any]:
    """Run detect-secrets (no network) over ``root``'s git-tracked files; the baseline dict."""
    from detect_secrets.__version__ import VERSION
    from detect_secrets.core import baseline
    from detect_secrets.settings import get_settings, transient_settings

    config = settings(plugin_path or plugin_path_for(root), baseline_name)
    with contextlib.chdir(root), transient_settings(config):
        found = baseline.create(".", root=".", num_processors=1)
        return {
            "version": VERSION,
            **get_settings().json(),
            "results": found.json(),
            "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }


def write_baseline(
    path: Path, root: Path | None = None, plugin_path: str | None = None
) -> dict[str, Any]:
    """Create ``path`` (a baseline for the repository at ``root``, default its folder)."""
    root = root or path.parent
    doc = create_baseline(root, plugin_path, os.path.basename(path))
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return doc
