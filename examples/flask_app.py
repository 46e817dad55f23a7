"""A minimal Flask service whose routes need an ``erp`` bearer token.

Run it from the project root (the key ring is read from ./jwt_secrets.json, as everywhere):

    erp-secrets jwt rotate
    flask --app examples/flask_app.py run
    TOKEN=$(python -c 'import erp.security as s; print(s.issue_token({"sub":"a","aud":"erp-api"}))')
    curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:5000/me
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from erp.integrations.flask import ErpAuth, TokenVerifier, current_claims, token_required


def create_app(verifier: TokenVerifier | None = None) -> Flask:
    """The app; ``verifier`` defaults to ``erp.security.verify_token`` (the configured ring)."""
    app = Flask(__name__)
    app.config["ERP_JWT_AUDIENCE"] = "erp-api"
    ErpAuth(app, verifier=verifier)

    @app.get("/health")
    def health() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/me")
    @token_required
    def me() -> dict[str, Any]:
        return {"sub": current_claims()["sub"]}

    return app


app = create_app()
