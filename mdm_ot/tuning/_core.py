"""Private helpers shared by the modules of the tuning package: the best point, JSON
numbers, ordering by an objective's direction, validation of grid axes and runs."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

# Bound on the exact evaluation: the stochastic step enumerates (2d+1)^n transitions.
_MAX_TRANSITIONS = 2_000_000


@dataclasses.dataclass(frozen=True)
class Best:
    """The best point found: ``a``, ``b`` and the objective's ``value`` there."""

    a: float
    b: float
    value: float

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "value": _json_number(self.value)}


def _json_number(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _flat_points(a_values, b_values, values, **extra) -> list[dict]:
    out = []
    for i, a in enumerate(a_values):
        for j, b in enumerate(b_values):
            row = {"a": float(a), "b": float(b), "value": _json_number(values[i, j])}
            for key, arr in extra.items():
                row[key] = _json_number(arr[i, j])
            out.append(row)
    return out


def _sign(objective) -> float:
    """-1 when the objective is maximized (so that smaller is better), else 1."""
    return -1.0 if objective.maximize else 1.0


def _best_index(values: np.ndarray, maximize: bool) -> int:
    """Index of the best value (first among equals); NaN counts as worst."""
    v = np.asarray(values, float).ravel()
    key = np.where(np.isnan(v), np.inf, -v if maximize else v)
    return int(np.argmin(key))


def _order(values: np.ndarray, maximize: bool) -> np.ndarray:
    """Indices from best to worst (stable: ties keep their order); NaN counts as worst."""
    v = np.asarray(values, float).ravel()
    key = np.where(np.isnan(v), np.inf, -v if maximize else v)
    return np.argsort(key, kind="stable")


def _check_axis(values, name) -> np.ndarray:
    v = np.asarray(values, float).ravel()
    if v.size == 0 or not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise ValueError(f"the {name} values must be finite numbers > 0 (Beta parameters), got {values!r}")
    return v
