"""A minimal FastAPI service whose routes need an ``erp`` bearer token.

(No ``from __future__ import annotations`` here: FastAPI reads the annotations of the
routes at run time, and a local ``Depends`` would be out of its reach as a string.)

Run it from the project root (the key ring is read from ./jwt_secrets.json, as everywhere):

    erp-secrets jwt rotate
    uvicorn --app-dir examples fastapi_app:app
    TOKEN=$(python -c 'import erp.security as s; print(s.issue_token({"sub":"a","aud":"erp-api"}))')
    curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/me
"""

from typing import Annotated, Any

from fastapi import Depends, FastAPI

from erp.integrations.fastapi import BearerAuth, TokenVerifier

AUDIENCE = "erp-api"


def create_app(verifier: TokenVerifier | None = None) -> FastAPI:
    """The app; ``verifier`` defaults to ``erp.security.verify_token`` (the configured ring)."""
    auth = BearerAuth(audience=AUDIENCE, verifier=verifier)
    app = FastAPI(title="erp example")

    @app.get("/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/me")
    async def me(claims: Annotated[dict[str, Any], Depends(auth)]) -> dict[str, Any]:
        return {"sub": claims["sub"]}

    return app


app = create_app()
