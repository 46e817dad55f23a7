"""Old home of the rotation Lambda; deployed templates name ``erp.aws.rotation.lambda_handler``.

The Lambda lives in :mod:`erp.aws.lambda_rotation`; this alias keeps stacks deployed from
earlier templates working.
"""

from __future__ import annotations

from erp.aws.lambda_rotation import STEPS, RotationHandler, RotationRequest, lambda_handler

__all__ = ["STEPS", "RotationHandler", "RotationRequest", "lambda_handler"]
