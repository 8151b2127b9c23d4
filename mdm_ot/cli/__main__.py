"""``python -m mdm_ot.cli``: the ``mdm-ot`` command."""

from mdm_ot.cli import main

raise SystemExit(main())
