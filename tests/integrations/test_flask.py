"""Flask: the extension and ``@token_required`` against the real framework."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from examples import flask_app
from flask import Flask
from tests.integrations.conftest import AUDIENCE, Issue
from tests.integrations.contract import (
    Answer,
    BearerContract,
    Call,
    answer_from,
    bearer,
    rotate_and_prune_under_traffic,
)

from erp.audit import AuditLog
from erp.clock import FrozenClock
from erp.integrations.flask import ErpAuth, current_claims, token_required
from erp.security import TokenService
from erp.vault import VaultFile


def _caller(app: Flask) -> Call:
    def call(headers: Mapping[str, str]) -> Answer:
        response = app.test_client().get("/me", headers=dict(headers))
        return answer_from(response.status_code, response.headers, response.get_data(as_text=True))

    return call


class TestTokenRequired(BearerContract):
    """The example app's ``@token_required`` route."""

    @pytest.fixture
    def call(self, service: TokenService) -> Call:
        return _caller(flask_app.create_app(verifier=service))


def test_rotation_under_traffic(
    service: TokenService,
    issue: Issue,
    jwt_vault: VaultFile,
    log: AuditLog,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Requests keep succeeding through jwt rotate and prune; no app restart."""
    monkeypatch.setenv("ERP_JWT_MAX_TOKEN_TTL_SECONDS", "900")
    app = flask_app.create_app(verifier=service)
    rotate_and_prune_under_traffic(
        _caller(app), service=service, issue=issue, vault=jwt_vault, log=log, clock=clock
    )


def test_app_factory_reads_audience_from_config(service: TokenService, issue: Issue) -> None:
    """ErpAuth().init_app(app) takes ERP_JWT_AUDIENCE from the app's config."""
    auth = ErpAuth(verifier=service)
    app = Flask(__name__)
    app.config["ERP_JWT_AUDIENCE"] = "billing"
    auth.init_app(app)

    @app.get("/me")
    @auth.token_required
    def me() -> dict[str, str]:
        return {"sub": current_claims()["sub"]}

    call = _caller(app)
    assert call(bearer(issue(aud="billing"))).status == 200
    assert call(bearer(issue(aud=AUDIENCE))).status == 401


def test_decorator_without_extension_is_a_setup_error() -> None:
    """Using @token_required on an app without ErpAuth is a loud server error."""
    app = Flask(__name__)

    @app.get("/me")
    @token_required
    def me() -> dict[str, str]:
        return {}

    assert app.test_client().get("/me").status_code == 500
