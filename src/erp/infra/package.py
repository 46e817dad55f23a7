"""Build the Lambda package: a small, byte-for-byte reproducible zip, and upload it.

The zip holds the ``erp`` modules the three handlers can reach (found by following their
``import`` statements, lazy ones included), plus the pure-Python distributions they need
that the Lambda runtime does not provide (``PyJWT``, ``filelock``; boto3 is provided).
Entries are sorted, dated 1980-01-01, mode 0644, and compressed at a fixed level, so the
same sources always give the same bytes (and the same SHA-256).

:func:`package_template` does what ``aws cloudformation package`` does for the
template's ``Code: ../dist/erp-lambda.zip``: upload the zip under its content hash and
rewrite ``Code`` to that S3 location.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import importlib.metadata
import io
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import erp
from erp.errors import ConfigError
from erp.infra.template import resources

__all__ = [
    "DEFAULT_ZIP",
    "HANDLER_MODULES",
    "LAMBDA_DISTRIBUTIONS",
    "RUNTIME_PROVIDED",
    "LambdaPackage",
    "build_lambda_zip",
    "package_template",
]

DEFAULT_ZIP = Path("dist/erp-lambda.zip")
HANDLER_MODULES = (
    "erp.alerts.lambda_check",
    "erp.alerts.lambda_notify",
    "erp.aws.lambda_rotation",
    "erp.aws.rotation",  # the handler path of templates deployed before the rename
)
LAMBDA_DISTRIBUTIONS = ("PyJWT", "filelock")
RUNTIME_PROVIDED = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six"}
)
"""Top-level modules every Python Lambda runtime already has."""

_EPOCH = (1980, 1, 1, 0, 0, 0)
_MODE = 0o100644 << 16
_LEVEL = 9


@dataclass(frozen=True)
class LambdaPackage:
    """What :func:`build_lambda_zip` wrote."""

    path: Path
    sha256: str
    size_bytes: int
    entries: tuple[str, ...]

    @property
    def s3_key(self) -> str:
        """A content-addressed object name: a new build never overwrites a deployed one."""
        return f"erp-lambda-{self.sha256[:16]}.zip"


def _module_file(root: Path, name: str) -> Path | None:
    path = root.joinpath(*name.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return None


def erp_modules(handlers: Sequence[str] = HANDLER_MODULES) -> dict[str, Path]:
    """Every ``erp`` module the handlers may import, as archive name -> source file."""
    root = Path(erp.__file__).resolve().parent.parent
    found: dict[str, Path] = {}
    todo = list(handlers)
    while todo:
        name = todo.pop()
        if name in found or not name.startswith("erp"):
            continue
        path = _module_file(root, name)
        if path is None:
            continue
        found[name] = path
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
        tree = ast.parse(path.read_bytes(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                todo += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                todo.append(node.module)
                todo += [f"{node.module}.{alias.name}" for alias in node.names]
    missing = [h for h in handlers if h not in found]
    if missing:
        raise ConfigError(f"handler module(s) {', '.join(missing)} not found under {root}")
    out = {str(p.relative_to(root)): p for p in found.values()}
    typed = root / "erp" / "py.typed"
    if typed.is_file():
        out["erp/py.typed"] = typed
    return out


def distribution_files(names: Iterable[str]) -> dict[str, Path]:
    """The importable files (and licence/metadata) of installed pure-Python distributions."""
    out: dict[str, Path] = {}
    for name in names:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            raise ConfigError(
                f"distribution {name} is not installed; run pip install -e '.[dev]'"
            ) from None
        for file in dist.files or ():
            parts = file.parts
            if not parts or parts[0] in ("..", "") or "__pycache__" in parts:
                continue
            if file.suffix in (".so", ".pyd", ".dylib"):
                raise ConfigError(
                    f"distribution {name} contains compiled code ({file}); the Lambda package "
                    "only takes pure-Python distributions"
                )
            info = parts[0].endswith(".dist-info")
            if info and not (file.name in ("METADATA", "top_level.txt") or "LICENSE" in str(file)):
                continue
            if not info and file.suffix not in (".py", ".typed"):
                continue
            out[str(file).replace("\\", "/")] = Path(str(dist.locate_file(file)))
    return out


def build_lambda_zip(
    output: Path | str = DEFAULT_ZIP,
    *,
    handlers: Sequence[str] = HANDLER_MODULES,
    distributions: Sequence[str] = LAMBDA_DISTRIBUTIONS,
) -> LambdaPackage:
    """Write the package to ``output`` (atomically) and describe it."""
    files = {**distribution_files(distributions), **erp_modules(handlers)}
    clash = sorted(name for name in files if name.split("/")[0] in RUNTIME_PROVIDED)
    if clash:
        raise ConfigError(f"{clash[0]} is provided by the Lambda runtime; do not package it")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = _MODE
            info.create_system = 3
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name].read_bytes(), compresslevel=_LEVEL)
    data = buffer.getvalue()
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    from erp._io import atomic_write_bytes

    atomic_write_bytes(output, data, mode=0o644, what="Lambda package")
    return LambdaPackage(output, hashlib.sha256(data).hexdigest(), len(data), tuple(sorted(files)))


def package_template(
    template: Mapping[str, Any],
    package: LambdaPackage,
    *,
    bucket: str,
    s3_client: Any,
    prefix: str = "",
) -> dict[str, Any]:
    """Upload the zip and return the template with every local ``Code`` path pointing at it.

    Only ``Code`` values that are a local path (a string) change; inline or S3 code stays.
    """
    key = f"{prefix.strip('/')}/{package.s3_key}" if prefix.strip("/") else package.s3_key
    packaged = _with_code(template, bucket, key)
    s3_client.put_object(Bucket=bucket, Key=key, Body=package.path.read_bytes())
    return packaged


def _with_code(template: Mapping[str, Any], bucket: str, key: str) -> dict[str, Any]:
    packaged = copy.deepcopy(dict(template))
    changed = 0
    for _, resource in resources(packaged, "AWS::Lambda::Function"):
        props = resource.setdefault("Properties", {})
        if isinstance(props.get("Code"), str):
            props["Code"] = {"S3Bucket": bucket, "S3Key": key}
            changed += 1
    metadata = packaged.get("Metadata")
    if isinstance(metadata, dict):  # the W3002 exception is no longer needed
        config = (metadata.get("cfn-lint") or {}).get("config") or {}
        ignored = config.get("ignore_checks")
        if isinstance(ignored, list) and "W3002" in ignored:
            ignored.remove("W3002")
    if not changed:
        raise ConfigError("the template has no AWS::Lambda::Function with a local Code path")
    return packaged
