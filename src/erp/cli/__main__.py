"""``python -m erp.cli``: the same as the ``erp-secrets`` command."""

from erp.cli import main

main()
