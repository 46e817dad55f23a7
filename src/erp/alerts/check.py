"""``run_check``: inspect the local key rings and the configured AWS secrets, in one report.

Configuration (each also an argument of :meth:`CheckConfig.from_env`):

``ERP_VAULT_FILE``
    the vault file(s) to inspect (``os.pathsep``-separated; default ``./jwt_secrets.json``).
``ERP_ROTATION_LOG``
    the rotation log verified with the (first) vault file (default ``logs/jwt_rotation.log``).
``ERP_CHECK_AWS_SECRET_IDS``
    comma-separated secret names or ARNs; default ``ERP_AWS_SECRET_ID`` when set.
``ERP_CHECK_DUE_WITHIN_DAYS``
    how far ahead a due rotation is reported (default 7).
``ERP_JWT_*``
    the JWT rotation policy (:meth:`erp.keyring.RotationPolicy.from_env`).
``ERP_FERNET_ROTATION_INTERVAL_DAYS``
    the age at which the Fernet primary key is due (default 90).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from erp._settings import read_float, read_path, read_text
from erp.alerts.aws import AwsCheckOptions, check_aws_secrets, secretsmanager_client
from erp.alerts.delivery import DeliveryResult
from erp.alerts.findings import Report, Severity
from erp.alerts.local import LocalCheckOptions, check_vault_file
from erp.aws.client import check_secret_id
from erp.clock import Clock, system_clock
from erp.errors import ConfigError
from erp.jwt.keyring import RotationPolicy
from erp.store.audit import DEFAULT_ROTATION_LOG
from erp.store.vault import DEFAULT_VAULT_FILE

__all__ = [
    "DEFAULT_DUE_WITHIN_DAYS",
    "EXIT_CRITICAL",
    "EXIT_NOT_DELIVERED",
    "EXIT_OK",
    "EXIT_WARNING",
    "CheckConfig",
    "exit_code",
    "run_check",
]

DEFAULT_DUE_WITHIN_DAYS = 7.0

EXIT_OK = 0
"""Nothing needs attention (informational findings at most)."""
EXIT_WARNING = 3
"""A rotation is due within the window, a hygiene warning (old key left, staged key), or
nothing to check at all (no vault file, no AWS secret: the check is misconfigured)."""
EXIT_CRITICAL = 4
"""Overdue, failed, unreadable, or a vault file others can read: act now."""
EXIT_NOT_DELIVERED = 5
"""``--notify`` could not deliver every alert: on-call may not know. Wins over 3 and 4."""


@dataclass(frozen=True)
class CheckConfig:
    """What to check and the thresholds to apply."""

    vault_paths: tuple[Path, ...] = ()
    aws_secret_ids: tuple[str, ...] = ()
    log_path: Path | None = None
    local: LocalCheckOptions = field(default_factory=LocalCheckOptions)
    aws: AwsCheckOptions = field(default_factory=AwsCheckOptions)

    @property
    def due_within(self) -> timedelta:
        return self.local.due_within

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        vault_paths: Sequence[Path] | None = None,
        aws_secret_ids: Sequence[str] | None = None,
        log_path: Path | None = None,
        due_within_days: float | None = None,
        include_local: bool = True,
        include_aws: bool = True,
    ) -> CheckConfig:
        """Build the configuration from the environment; arguments override it."""
        env = os.environ if environ is None else environ
        if due_within_days is None:
            due_within_days = read_float(
                "ERP_CHECK_DUE_WITHIN_DAYS",
                DEFAULT_DUE_WITHIN_DAYS,
                minimum=0,
                maximum=3650,
                unit="days",
                env=env,
            )
        if due_within_days < 0:
            raise ConfigError("--due-within-days must not be negative")
        due_within = timedelta(days=due_within_days)
        if vault_paths is None:
            configured = str(read_path("ERP_VAULT_FILE", DEFAULT_VAULT_FILE, env=env))
            vault_paths = [Path(p) for p in configured.split(os.pathsep) if p.strip()]
        if aws_secret_ids is None:
            name = "ERP_CHECK_AWS_SECRET_IDS"
            text = read_text(name, env=env)
            if text is None:
                name = "ERP_AWS_SECRET_ID"
                text = read_text(name, env=env) or ""
            ids = [s for s in text.split(",") if s.strip()]
            aws_secret_ids = [check_secret_id(s, f"{name} (comma-separated)") for s in ids]
        else:
            aws_secret_ids = [check_secret_id(s, "--aws-secret") for s in aws_secret_ids]
        fernet_days = read_float(
            "ERP_FERNET_ROTATION_INTERVAL_DAYS", 90.0, minimum=1, maximum=3650, unit="days", env=env
        )
        if log_path is None and include_local:
            log_path = read_path("ERP_ROTATION_LOG", DEFAULT_ROTATION_LOG, env=env)
        return cls(
            vault_paths=tuple(vault_paths) if include_local else (),
            aws_secret_ids=tuple(aws_secret_ids) if include_aws else (),
            log_path=log_path if include_local else None,
            local=LocalCheckOptions(
                due_within=due_within,
                policy=RotationPolicy.from_env(env),
                fernet_rotation_interval=timedelta(days=fernet_days),
            ),
            aws=AwsCheckOptions(due_within=due_within),
        )


def run_check(
    config: CheckConfig, *, clock: Clock = system_clock, aws_client: Any = None
) -> Report:
    """Check every configured vault file and AWS secret at ``clock()``; never raises for
    a source that cannot be read (that is a ``check_failed`` finding)."""
    now = clock()
    # the rotation log belongs to the first (main) vault file, as in 'erp-secrets audit verify'
    parts = [
        check_vault_file(path, now, config.local, config.log_path if i == 0 else None)
        for i, path in enumerate(config.vault_paths)
    ]
    if config.aws_secret_ids:
        client = aws_client if aws_client is not None else secretsmanager_client
        parts.append(
            check_aws_secrets(config.aws_secret_ids, client=client, now=now, options=config.aws)
        )
    report = Report.combine(now, parts)
    return Report(
        report.checked_at,
        report.subjects,
        report.findings,
        config.due_within.total_seconds() / 86400,
    )


def exit_code(report: Report, deliveries: Iterable[DeliveryResult] = ()) -> int:
    """The process exit status monitoring acts on (see the ``EXIT_*`` constants)."""
    if any(not d.ok for d in deliveries):
        return EXIT_NOT_DELIVERED
    if not report.subjects and not report.findings:
        return EXIT_WARNING  # nothing configured: a monitor that checks nothing must not be green
    worst = report.worst
    if worst is None or worst < Severity.WARNING:
        return EXIT_OK
    return EXIT_WARNING if worst is Severity.WARNING else EXIT_CRITICAL
