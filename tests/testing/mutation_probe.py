"""A probe for tests/testing/test_mutation.py (not collected by default: no ``test_`` prefix).

It passes on the library and fails under the probe mutant of that test.
"""

import math

from mdm_ot.energies import minimum_reduced_energy


def test_minimum_is_pi_squared():
    assert minimum_reduced_energy() == math.pi**2
