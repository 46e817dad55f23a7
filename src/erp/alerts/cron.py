"""Old home of the Secrets Manager cron parser; it lives in :mod:`erp.aws.cron` now."""

from __future__ import annotations

from erp.aws.cron import CronError, CronExpression, parse_cron

__all__ = ["CronError", "CronExpression", "parse_cron"]
