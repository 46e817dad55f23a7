"""The detect-secrets pre-commit hook, failing closed: ``python -m erp.scan.ds_hook ARGS``.

``detect-secrets-hook`` logs a plugin or filter it cannot load (a baseline copied into another
repository, a moved plugin file, a missing package) and then passes the commit: the error
shows only with ``--verbose``. This wrapper loads the baseline's configuration first and
exits 2 with a message naming what could not be loaded and how to fix it; only then does it
run detect-secrets' own hook with the same arguments. File names follow ``--`` (as the
project's pre-commit entry passes them), so a staged file named ``--help`` is scanned, not
taken as an option.

It also makes detect-secrets select files by the rule ``erp-secrets scan`` uses
(:func:`erp.scan.files.skip_reason`: by content, never by name): detect-secrets' built-in
``is_non_text_file`` filter, which skips ``.sum``, ``.lock``, ``.css``, ``.svg``, ``.map`` ...
by extension and cannot be switched off in a baseline, is replaced for this process by that
rule. (``is_lock_file`` and ``is_swagger_file`` are left out of the baseline's filters by
:mod:`erp.scan.ds_config` for the same reason.) One difference remains: detect-secrets skips,
silently, a selected file it cannot decode as text (a Latin-1 file); ``erp-secrets scan``
scans it, so that hook still blocks its secrets.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

__all__ = ["configuration_problems", "main"]

EXIT_UNLOADABLE = 2
"""Exit status when the configuration cannot be loaded (1 is detect-secrets' "found")."""


def _baseline_argument(argv: Sequence[str]) -> str | None:
    for index, arg in enumerate(argv):
        if arg == "--":
            break  # file names follow (a staged file may be named "--baseline=x")
        if arg == "--baseline" and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--baseline="):
            return arg.split("=", 1)[1]
    return None


def configuration_problems(baseline_path: str) -> list[str]:
    """Why the plugins or filters of the baseline at ``baseline_path`` cannot load (empty: fine).

    Configures detect-secrets' process-wide settings from the baseline as its hook does.
    """
    import json

    from detect_secrets.settings import configure_settings_from_baseline, get_filters, get_settings

    try:
        with open(baseline_path, encoding="utf-8") as handle:
            doc = json.load(handle)
    except OSError as exc:
        return [f"cannot read the baseline {baseline_path}: {exc.strerror or exc}"]
    except ValueError as exc:
        return [f"the baseline {baseline_path} is not JSON: {exc}"]
    if not isinstance(doc, dict):
        return [f"the baseline {baseline_path} is not a detect-secrets baseline"]
    missing: dict[str, list[str]] = {}
    for plugin in doc.get("plugins_used", []):
        path = str(plugin.get("path", ""))
        if path.startswith("file://") and not os.path.isfile(path[len("file://") :]):
            missing.setdefault(path[len("file://") :], []).append(str(plugin.get("name")))
    if missing:
        return [
            f"plugins {', '.join(names)}: no file {path} in {os.getcwd()} "
            "(a relative path is read from the directory the hook runs in)"
            for path, names in missing.items()
        ]
    problems: list[str] = []
    try:
        configure_settings_from_baseline(doc, filename=baseline_path)
    except Exception as exc:  # any failure to configure closes the gate
        return [f"detect-secrets cannot use the baseline {baseline_path}: {exc!r}"]
    problems += _plugin_problems(list(get_settings().plugins))
    loaded = {f"{f.__module__}.{f.__name__}" for f in get_filters()}
    for path in get_settings().filters:
        if not path.startswith("file://") and path not in loaded:
            problems.append(f"filter {path}: cannot be imported")
    return problems


def _plugin_problems(names: list[str]) -> list[str]:
    from detect_secrets.core.plugins import initialize

    problems = []
    for name in names:
        try:
            initialize.from_plugin_classname(name)
        except Exception as exc:  # TypeError, OSError, ...
            problems.append(f"plugin {name}: cannot be loaded ({type(exc).__name__})")
    return problems


def _select_files_by_content() -> None:
    """Swap detect-secrets' by-extension file filter for the shared by-content rule."""
    from detect_secrets.filters import heuristic
    from detect_secrets.settings import get_filters

    from erp.scan.ds_filters import is_not_scanned_file

    # detect-secrets looks the filter up by its import path at scan time, so the module
    # attribute is what it calls; the function keeps the parameter name it injects.
    heuristic.is_non_text_file = is_not_scanned_file
    get_filters.cache_clear()


def main(argv: Sequence[str] | None = None) -> int:
    """Run detect-secrets' hook after checking that its configuration loads."""
    args = list(sys.argv[1:] if argv is None else argv)
    baseline = _baseline_argument(args)
    if baseline is not None:
        problems = configuration_problems(baseline)
        if problems:
            for problem in problems:
                print(f"detect-secrets hook: {problem}", file=sys.stderr)
            print(
                "detect-secrets hook: refusing to pass the commit unscanned. Run the hook from "
                "the repository root with the project installed (pip install -e '.[dev]'), or "
                "make a baseline for this repository with 'erp-secrets scan --init-baseline'.",
                file=sys.stderr,
            )
            return EXIT_UNLOADABLE
    _select_files_by_content()
    from detect_secrets import pre_commit_hook

    return int(pre_commit_hook.main(args))


if __name__ == "__main__":
    sys.exit(main())
