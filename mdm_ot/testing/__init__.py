"""Testing helpers shared by ``tests/`` and ``paper_checks/`` (public, importable).

:mod:`mdm_ot.testing.strategies` holds the Hypothesis strategies; it imports
``hypothesis``, which is a test dependency, so import it only from tests. The helpers
here need only numpy.
"""

from __future__ import annotations

import math

import numpy as np

from mdm_ot.quadrature import STATUS_DIVERGENT_AT_0, STATUS_DIVERGENT_AT_1, describe_status

__all__ = ["assert_same_energy"]


def assert_same_energy(brute, reference, scale: float = 1.0, *, rtol: float, atol: float = 0.0) -> float:
    """Assert that two energies agree: ``brute`` against ``scale * reference``.

    Both are :class:`~mdm_ot.quadrature.QuadResult` s. Either both are finite with
    ``|brute - scale * reference| <= atol + rtol * |scale * reference|`` and the same
    status, or both diverge at the same end (value ``+inf``).

    Returns:
      The relative deviation ``|brute / (scale * reference) - 1|`` (0.0 when both diverge).
    """
    sb, sr = int(brute.status), int(reference.status)
    vb, vr = float(brute.value), scale * float(reference.value)
    if sb in (STATUS_DIVERGENT_AT_0, STATUS_DIVERGENT_AT_1) or sr in (
        STATUS_DIVERGENT_AT_0, STATUS_DIVERGENT_AT_1
    ):
        assert sb == sr, (
            f"one diverges, the other not: brute {vb} ({describe_status(sb)}) vs "
            f"reference {vr} ({describe_status(sr)})"
        )
        assert vb == vr == math.inf, f"divergent energies must be +inf, got {vb} and {vr}"
        return 0.0
    assert sb == sr, f"status differs: brute {describe_status(sb)} vs reference {describe_status(sr)}"
    assert math.isfinite(vb) and math.isfinite(vr), f"non-finite energies {vb}, {vr}"
    np.testing.assert_allclose(vb, vr, rtol=rtol, atol=atol)
    return abs(vb / vr - 1.0) if vr != 0 else abs(vb)
