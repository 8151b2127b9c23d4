"""``python -m mdm_ot.cli``: the ``mdm-ot`` command (:func:`mdm_ot.cli.run`)."""

from mdm_ot.cli import run

run()
