"""JWT signing keys and tokens: one home for the whole feature.

* :mod:`erp.jwt.keyring`: the pure ring and its transitions (rotate, stage, promote, prune);
* :mod:`erp.jwt.codec`: the ``JWT_SECRETS``/``JWT_SECRET_ID``/``JWT_KEYS`` format (its only owner);
* :mod:`erp.jwt.rotation`: the transitions applied to the vault through the journal;
* :mod:`erp.jwt.tokens`: :class:`~erp.jwt.tokens.TokenService`, issue and verify.

Submodules are imported on use, so ``import erp.jwt`` costs nothing.
"""
