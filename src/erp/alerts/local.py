"""Checks of the local key rings: JWT keys in the vault file, Fernet keys, the file's mode.

Each function is pure over what it is given (a ring, a vault document, a file mode) and the
current time, and returns a :class:`~erp.alerts.findings.Report`.
"""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from erp.alerts.findings import Condition, Finding, Report, Severity, Subject
from erp.clock import from_iso, to_iso
from erp.errors import ErpError
from erp.jwt.keyring import KeyRing, RotationPolicy, fingerprint, prune_plan

__all__ = [
    "LocalCheckOptions",
    "check_fernet_document",
    "check_jwt_ring",
    "check_rotation_log",
    "check_vault_file",
    "check_vault_mode",
    "local_subject_id",
]

FERNET_PRIMARY = "FERNET_KEY"
FERNET_FALLBACKS = "FERNET_FALLBACK_KEYS"
FERNET_META = "FERNET_KEY_META"


@dataclass(frozen=True)
class LocalCheckOptions:
    """Thresholds of the local checks (durations as ``timedelta``)."""

    due_within: timedelta = timedelta(days=7)
    policy: RotationPolicy = field(default_factory=RotationPolicy)
    staged_grace: timedelta = timedelta(days=1)
    fernet_rotation_interval: timedelta = timedelta(days=90)
    fallback_grace: timedelta = timedelta(days=7)


def local_subject_id(kind: str, path: Path) -> str:
    """``jwt:<host>:<absolute path>``: stable per machine and file."""
    return f"{kind}:{socket.gethostname()}:{path.resolve()}"


def _days(delta: timedelta) -> str:
    days = delta.total_seconds() / 86400
    if abs(days) >= 1:
        return f"{days:.0f} day" + ("" if round(abs(days)) == 1 else "s")
    hours = delta.total_seconds() / 3600
    return f"{hours:.0f} hour" + ("" if round(abs(hours)) == 1 else "s")


def _age_findings(
    subject: Subject,
    what: str,
    started: datetime,
    interval: timedelta,
    now: datetime,
    due_within: timedelta,
    details: dict[str, Any],
) -> list[Finding]:
    due = started + interval
    info = {**details, "since": to_iso(started), "rotation_interval_days": interval.days}
    if now >= due:
        return [
            Finding(
                subject,
                Condition.ROTATION_OVERDUE,
                Severity.CRITICAL,
                f"{what} ({subject.name}) is {_days(now - started)} old; rotation was due "
                f"{_days(now - due)} ago ({to_iso(due)})",
                due,
                info,
            )
        ]
    if due - now <= due_within:
        return [
            Finding(
                subject,
                Condition.ROTATION_DUE,
                Severity.WARNING,
                f"{what} ({subject.name}) is due for rotation in {_days(due - now)} "
                f"({to_iso(due)})",
                due,
                info,
            )
        ]
    return []


def check_jwt_ring(
    ring: KeyRing, vault_path: Path, now: datetime, options: LocalCheckOptions
) -> Report:
    """Key age against the policy, retired keys past prune time, a staged key left behind."""
    policy = options.policy
    subject_id = local_subject_id("jwt", vault_path)
    if not ring.keys:
        return Report(now)
    active = ring.active
    started = active.activated_at or active.created_at
    due = started + policy.rotation_interval if started else None
    subject = Subject(subject_id, "jwt", f"JWT key ring {vault_path}", due)
    findings: list[Finding] = []
    ids = {"active_key": active.id, "fingerprint": active.fingerprint}
    if started is None:
        findings.append(
            Finding(
                subject,
                Condition.KEY_AGE_UNKNOWN,
                Severity.WARNING,
                f"active JWT key {active.id} in {vault_path} has no activation time (a "
                "hand-made file?); rotate it ('erp-secrets jwt rotate') to start the clock",
                None,
                ids,
            )
        )
    elif policy.rotation_interval > timedelta(0):
        findings += _age_findings(
            subject,
            f"active JWT key {active.id}",
            started,
            policy.rotation_interval,
            now,
            options.due_within,
            ids,
        )
    prunable = [(k, when) for k, when in prune_plan(ring, policy) if when and when <= now]
    if prunable:
        oldest = min(when for _, when in prunable)
        findings.append(
            Finding(
                subject,
                Condition.RETIRING_KEY_PRUNABLE,
                Severity.WARNING,
                f"{len(prunable)} retired JWT key(s) in {vault_path} still verify tokens "
                f"although every token they signed expired {_days(now - oldest)} ago; run "
                "'erp-secrets jwt prune'",
                oldest,
                {"keys": [k.id for k, _ in prunable]},
            )
        )
    staged = ring.staged
    if staged is not None and staged.created_at is not None:
        limit = (
            policy.rotation_interval if policy.mode == "staged" else policy.min_stage_period
        ) + options.staged_grace
        if now - staged.created_at > limit:
            findings.append(
                Finding(
                    subject,
                    Condition.STAGED_KEY_NOT_PROMOTED,
                    Severity.WARNING,
                    f"JWT key {staged.id} in {vault_path} was staged "
                    f"{_days(now - staged.created_at)} ago and never promoted; run "
                    "'erp-secrets jwt promote'",
                    staged.created_at + limit,
                    {"staged_key": staged.id, "staged_at": to_iso(staged.created_at)},
                )
            )
    return Report(now, (subject,), tuple(findings))


def check_vault_mode(path: Path, mode: int, now: datetime, *, secret_mount: bool = False) -> Report:
    """A vault file that anyone but its owner can read, write or run is a finding.

    Others reading it is critical. Its group reading it, and nothing more, is only a
    warning: that is how Kubernetes mounts a Secret for a pod's ``fsGroup`` (``defaultMode:
    0440``, docs/deploy.md) and how a service group shares a root-owned file.
    ``secret_mount`` says the file is a link into a kubelet ``..data/`` folder.
    """
    subject = Subject(local_subject_id("file", path), "vault", f"vault file {path}")
    loose = stat.S_IMODE(mode) & 0o077
    if not loose:
        return Report(now, (subject,))
    shown = f"{stat.S_IMODE(mode):04o}"
    if loose == stat.S_IRGRP:
        if secret_mount:
            summary = (
                f"vault file {path} is a Kubernetes Secret mount (a link into ..data/) with "
                f"mode {shown}: the pod's group (fsGroup) can read the secrets, nobody can "
                "change them and others cannot read them; expected in a pod (docs/deploy.md), "
                "keep the rotating host's copy at mode 0600"
            )
        else:
            summary = (
                f"vault file {path} has mode {shown}: its group can read the secrets (not "
                "change them; others cannot read them); fine for a Kubernetes Secret mounted "
                "with fsGroup or a service group that must read it, otherwise run "
                f"'chmod 600 {path}'"
            )
        severity = Severity.WARNING
    else:
        readable = bool(mode & (stat.S_IRGRP | stat.S_IROTH))
        who = "others" if mode & stat.S_IROTH else "its group"
        summary = (
            f"vault file {path} has mode {shown}: "
            + (f"{who} can read the secrets" if readable else "others have access")
            + f"; run 'chmod 600 {path}'"
        )
        severity = Severity.CRITICAL if readable else Severity.ERROR
    finding = Finding(
        subject,
        Condition.VAULT_PERMISSIONS,
        severity,
        summary,
        None,
        {"mode": shown, "path": str(path)},
    )
    return Report(now, (subject,), (finding,))


def _is_secret_mount(path: Path) -> bool:
    """The kubelet's layout: the file is a link to ``..data/<name>`` (swapped on update)."""
    try:
        target = Path(os.readlink(path))
    except OSError:  # not a link (or gone): not a Secret mount
        return False
    return bool(target.parts) and target.parts[0] == "..data"


def _meta_time(meta: Mapping[str, Any], name: str) -> datetime | None:
    text = meta.get(name)
    if not text:
        return None
    try:
        return from_iso(str(text))
    except ValueError:
        return None


def check_fernet_document(
    doc: Mapping[str, Any], vault_path: Path, now: datetime, options: LocalCheckOptions
) -> Report:
    """The Fernet keys in a vault document: primary key age, old keys kept too long."""
    primary = doc.get(FERNET_PRIMARY)
    if not isinstance(primary, str) or not primary.strip():
        return Report(now)
    meta_all = doc.get(FERNET_META) or {}
    meta_all = meta_all if isinstance(meta_all, dict) else {}
    primary_fp = fingerprint(primary.strip())
    meta = meta_all.get(primary_fp) or {}
    started = _meta_time(meta, "activated_at") or _meta_time(meta, "created_at")
    interval = options.fernet_rotation_interval
    subject = Subject(
        local_subject_id("fernet", vault_path),
        "fernet",
        f"Fernet keys {vault_path}",
        started + interval if started else None,
    )
    findings: list[Finding] = []
    ids = {"primary_fingerprint": primary_fp}
    if started is not None and interval > timedelta(0):
        findings += _age_findings(
            subject, "the Fernet primary key", started, interval, now, options.due_within, ids
        )
    raw = doc.get(FERNET_FALLBACKS)
    fallbacks = [p.strip() for p in raw.split(",") if p.strip()] if isinstance(raw, str) else []
    if fallbacks and started is not None and now - started > options.fallback_grace:
        findings.append(
            Finding(
                subject,
                Condition.OLD_KEYS_NOT_RETIRED,
                Severity.WARNING,
                f"{len(fallbacks)} old Fernet key(s) in {vault_path} are still configured "
                f"{_days(now - started)} after the last rotation; run 'erp-secrets fernet "
                "reencrypt', 'verify' and 'retire'",
                started + options.fallback_grace,
                {"old_keys": [fingerprint(k) for k in fallbacks]},
            )
        )
    return Report(now, (subject,), tuple(findings))


def check_rotation_log(log_path: Path, head: Mapping[str, Any] | None, now: datetime) -> Report:
    """The rotation log's hash chain, anchored to the vault's record of its newest entry.

    An edited, deleted or reordered line is an error (someone changed the audit trail); an
    entry the vault committed but the log lacks (a rotation interrupted after its commit
    point) is a warning, which the next rotation repairs.
    """
    from erp.store.audit import AuditLog

    subject = Subject(local_subject_id("log", log_path), "rotation-log", f"rotation log {log_path}")
    if not log_path.exists() and head is None:
        return Report(now)
    report = AuditLog(log_path).verify(head)
    if report.ok:
        return Report(now, (subject,))
    repair_only = report.repairable >= len(report.problems)
    more = f" (+{len(report.problems) - 1} more)" if len(report.problems) > 1 else ""
    finding = Finding(
        subject,
        Condition.ROTATION_LOG_BROKEN,
        Severity.WARNING if repair_only else Severity.ERROR,
        f"rotation log {log_path} does not verify: {report.problems[0]}{more}; run "
        "'erp-secrets audit verify'"
        + (" (the next rotation completes it)" if repair_only else " and restore it from backup"),
        None,
        {"problems": report.problems[:10], "entries": report.entries},
    )
    return Report(now, (subject,), (finding,))


def check_vault_file(
    path: Path, now: datetime, options: LocalCheckOptions, log_path: Path | None = None
) -> Report:
    """All local checks on one vault file (and its rotation log, when given); a missing
    vault file is not an error (nothing to check)."""
    from erp.jwt.codec import ring_from_document
    from erp.store.vault import META_KEY, VaultFile

    try:
        st = os.stat(path)
    except FileNotFoundError:
        return Report(now)
    except OSError as exc:
        return _failed(path, now, f"cannot stat {path}: {exc.strerror}")
    if not stat.S_ISREG(st.st_mode):  # a folder or FIFO: its mode bits say nothing useful
        try:
            VaultFile(path).read()  # names the kind of file in one sentence
        except ErpError as exc:
            return _failed(path, now, str(exc))
    report = check_vault_mode(path, st.st_mode, now, secret_mount=_is_secret_mount(path))
    try:
        doc = VaultFile(path).read()
    except ErpError as exc:
        return report.merged(_failed(path, now, str(exc)))
    try:
        ring = ring_from_document(doc, str(path))
    except ErpError as exc:
        report = report.merged(_failed(path, now, str(exc), kind="jwt"))
    else:
        report = report.merged(check_jwt_ring(ring, path, now, options))
    report = report.merged(check_fernet_document(doc, path, now, options))
    if log_path is not None:
        head = (doc.get(META_KEY) or {}).get("audit")
        report = report.merged(check_rotation_log(log_path, head, now))
    return report


def _failed(path: Path, now: datetime, problem: str, kind: str = "file") -> Report:
    subject = Subject(local_subject_id(kind, path), "vault" if kind == "file" else kind, str(path))
    finding = Finding(
        subject,
        Condition.CHECK_FAILED,
        Severity.ERROR,
        f"could not check {path}: {problem}",
        None,
        {"path": str(path)},
    )
    return Report(now, (subject,), (finding,))
