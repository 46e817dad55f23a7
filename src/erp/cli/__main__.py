"""``python -m erp.cli``: the same as the ``erp-secrets`` command, exit codes included."""

import sys

from erp.cli import main

sys.exit(main())
