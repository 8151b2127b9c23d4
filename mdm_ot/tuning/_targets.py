r"""Targets of the tuning: the paper's toy targets, random and explicit Markov chains,
tables from files, energies; and the string specs of the command line.

The toy targets (Figure 4) are sentences of ``n = 5`` tokens over ``{a, b}``.

Tokens: ``a = 0``, ``b = 1`` (the mask is ``2``). Targets, as tables of shape ``(2,) * 5``
indexed by the sentence:

* ``"modes"``: uniform over ``{aaaaa, bbbbb}``;
* ``"middle"``: uniform over the sentences with two or three a's (20 sentences).

References:
  The paper's Figure 4 (toy experiment, 3 sampling steps); MATH.md section 5.

Example:
  >>> from mdm_ot.tuning import parse_target
  >>> parse_target("markov:n=4,d=2,seed=0").q.shape
  (2, 2, 2, 2)
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from jax.typing import ArrayLike

from mdm_ot.bruteforce import all_states
from mdm_ot.sampling import MarkovOracle, markov_oracle, table_oracle
from mdm_ot.schedules import Identity, InterpSchedule, parse_gamma
from mdm_ot.tuning._core import _MAX_TRANSITIONS

__all__ = [
    "LETTERS",
    "TARGET_SPECS",
    "TOY_LENGTH",
    "TOY_TARGETS",
    "TOY_VOCAB",
    "Target",
    "markov_chain",
    "parse_target",
    "sentence",
    "toy_sentences",
    "toy_target",
]

TOY_LENGTH = 5
TOY_VOCAB = 2
LETTERS = "ab"
TOY_TARGETS = ("modes", "middle")
TARGET_SPECS = (
    "modes, middle (the paper's toy), markov:n=N,d=D,seed=S[,conc=C] (random chain), "
    "markov:n=N,init=P1/.../Pd,trans=P11/.../Pdd (explicit chain, rows of trans in order), "
    "npy:FILE (a table q of shape (d,)*n), energy[:GAMMA], discrete-energy[:GAMMA]"
)


def toy_target(name: str) -> np.ndarray:
    """The target ``q`` of shape ``(2,) * 5`` (float64 NumPy; convert with ``jnp.asarray``).

    Raises:
      ValueError: for a name other than ``"modes"`` or ``"middle"``.
    """
    grid = all_states(TOY_LENGTH, TOY_VOCAB, masked=False)
    num_a = np.sum(grid == 0, axis=1)
    if name == "modes":
        keep = (num_a == 0) | (num_a == TOY_LENGTH)
    elif name == "middle":
        keep = (num_a == 2) | (num_a == 3)
    else:
        raise ValueError(f"unknown toy target {name!r}; allowed: {', '.join(TOY_TARGETS)}")
    q = keep.astype(np.float64)
    return (q / q.sum()).reshape((TOY_VOCAB,) * TOY_LENGTH)


def sentence(tokens: ArrayLike) -> str:
    """Write a sequence of tokens (0, 1, and 2 for the mask) with letters: ``a``, ``b``, ``_``."""
    return "".join((LETTERS + "_")[int(t)] for t in np.asarray(tokens).reshape(-1))


def toy_sentences() -> list[str]:
    """The 32 sentences in the order of ``toy_target(name).ravel()`` (``aaaaa`` first)."""
    grid = all_states(TOY_LENGTH, TOY_VOCAB, masked=False)
    return [sentence(row) for row in grid]


@dataclasses.dataclass(frozen=True)
class Target:
    """A parsed ``--target`` spec: a table ``q`` (oracle targets) or an energy."""

    spec: str
    kind: str  # "table" or "energy" or "discrete-energy"
    q: np.ndarray | None = None
    gamma: InterpSchedule | None = None
    info: dict = dataclasses.field(default_factory=dict)


def markov_chain(n: int, d: int, seed: int, concentration: float = 0.5) -> MarkovOracle:
    r"""A random Markov chain: initial distribution and every row of the transition matrix
    drawn from a symmetric Dirichlet(``concentration``) with ``numpy.random.default_rng(seed)``
    (smaller concentration: sparser, more structured chains).

    ``n`` is only validated here (the chain has any length).
    """
    for name, v, lo in (("n", n, 1), ("d", d, 2), ("seed", seed, 0)):
        if not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    if not (math.isfinite(concentration) and concentration > 0):
        raise ValueError(f"the Dirichlet concentration must be > 0, got {concentration}")
    rng = np.random.default_rng(seed)
    init = rng.dirichlet(np.full(d, concentration))
    trans = rng.dirichlet(np.full(d, concentration), size=d)
    return markov_oracle(init, trans)


def _too_large(n: int, d: int) -> bool:
    """``(2d+1)^n > _MAX_TRANSITIONS``, bounding n by logarithms first (``(2d+1)^n >= 3^n``), so
    that the exact power is computed only when it is small (n = 10^12 would hang)."""
    if n * math.log(2 * d + 1) > math.log(_MAX_TRANSITIONS) + 1.0:
        return True
    return (2 * d + 1) ** n > _MAX_TRANSITIONS


def _size_error(spec: str, n: int, d: int) -> ValueError:
    return ValueError(f"bad target {spec!r}: n = {n}, d = {d} is too large for the exact evaluation; "
                      f"allowed: (2d+1)^n <= {_MAX_TRANSITIONS}")


def _parse_markov(spec: str, body: str) -> Target:
    fields: dict[str, str] = {}
    for part in body.split(","):
        key, eq, value = part.partition("=")
        key = key.strip()
        if not eq or not key or not value.strip():
            raise ValueError(f"bad target {spec!r}: expected key=value pairs; allowed: {TARGET_SPECS}")
        if key in fields:
            raise ValueError(f"bad target {spec!r}: {key} given twice")
        fields[key] = value.strip()

    def integer(key, lo):
        try:
            v = int(fields[key])
        except ValueError:  # also Python's limit on the digits of an int
            raise ValueError(f"bad target {spec!r}: {key} must be an integer >= {lo}, "
                             f"got {fields[key][:20]!r}") from None
        if v < lo:
            raise ValueError(f"bad target {spec!r}: {key} must be an integer >= {lo}, got {v}")
        return v

    def positive(key):
        try:
            v = float(fields[key])
        except ValueError:
            raise ValueError(f"bad target {spec!r}: {key} must be a number > 0, got {fields[key][:20]!r}") from None
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"bad target {spec!r}: {key} must be a finite number > 0, got {fields[key][:20]!r}")
        return v

    def vector(key):
        try:
            return np.array([float(x) for x in fields[key].split("/")])
        except ValueError:
            raise ValueError(f"bad target {spec!r}: {key} must be numbers separated by '/'") from None

    if "n" not in fields:
        raise ValueError(f"bad target {spec!r}: markov needs the length n=N; allowed: {TARGET_SPECS}")
    n = integer("n", 1)
    random_keys, explicit_keys = {"n", "d", "seed", "conc"}, {"n", "init", "trans"}
    if set(fields) <= random_keys and {"d", "seed"} <= set(fields):
        d, seed = integer("d", 2), integer("seed", 0)
        conc = positive("conc") if "conc" in fields else 0.5
        # sizes before any allocation: the chain's d x d matrix and the (2d+1)^n transitions
        if d * d > _MAX_TRANSITIONS or _too_large(n, d):
            raise _size_error(spec, n, d)
        chain = markov_chain(n, d, seed, conc)
        info = {"n": n, "d": d, "seed": seed, "conc": conc}
    elif set(fields) == explicit_keys:
        init, trans = vector("init"), vector("trans")
        d = init.shape[0]
        if trans.shape[0] != d * d:
            raise ValueError(f"bad target {spec!r}: trans needs d*d = {d * d} numbers for d = {d}, got {trans.shape[0]}")
        if _too_large(n, d):
            raise _size_error(spec, n, d)
        try:
            chain = markov_oracle(init, trans.reshape(d, d))
        except ValueError as exc:
            raise ValueError(f"bad target {spec!r}: {exc}") from None
        info = {"n": n, "d": d}
    else:
        raise ValueError(f"bad target {spec!r}: give n, d, seed[, conc] or n, init, trans; allowed: {TARGET_SPECS}")
    q = np.asarray(chain.table(n), np.float64)
    info.update(init=np.asarray(chain.init).tolist(), trans=np.asarray(chain.trans).tolist())
    return Target(spec, "table", q=q / q.sum(), info=info)


def _load_table(path: str, what: str = "npy:FILE") -> np.ndarray:
    """Read a target table ``q`` of shape ``(d,) * n`` from a ``.npy`` file: the one loader of
    ``npy:`` targets.

    The header (dtype, shape) is checked before the data are read (the file is memory-mapped),
    so a huge or malformed file costs nothing; any unreadable, truncated or non-numeric file,
    a folder, an object array, a table that is too large for the exact evaluation, or one that
    is not a distribution is a ``ValueError`` of one line naming ``what`` and the file.

    Returns:
      ``q`` as float64, validated (finite, nonnegative, sums to 1).
    """
    import os

    where = f"bad target {what!r}"
    if os.path.isdir(path):
        raise ValueError(f"{where}: {path!r} is a folder, expected a .npy file")
    if not os.path.isfile(path):
        raise ValueError(f"{where}: no such file {path!r}")
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 (any unreadable file is bad input)
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise ValueError(f"{where}: cannot read {path!r} as .npy ({reason})") from None
    if not isinstance(arr, np.ndarray):  # an .npz archive
        arr.close()
        raise ValueError(f"{where}: {path!r} is not a single .npy array")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{where}: {path!r} holds {arr.dtype} values; allowed: real numbers")
    if arr.ndim < 1 or len(set(arr.shape)) != 1 or arr.shape[0] < 1:
        raise ValueError(f"{where}: {path!r} has shape {arr.shape}; allowed: (d,) * n with d >= 1, n >= 1")
    if _too_large(arr.ndim, arr.shape[0]):
        raise _size_error(what, arr.ndim, arr.shape[0])
    try:
        q = np.array(arr, dtype=np.float64)
    except Exception as exc:  # noqa: BLE001 (a file that changed or shrank under the map)
        raise ValueError(f"{where}: cannot read {path!r} ({type(exc).__name__})") from None
    try:
        table_oracle(q)
    except ValueError as exc:
        raise ValueError(f"{where}: {path!r}: {exc}") from None
    return q


def parse_target(spec: str) -> Target:
    """Parse a target spec (:data:`TARGET_SPECS`).

    Markov grammar: ``markov:n=6,d=3,seed=0`` is a random chain (:func:`markov_chain`; an
    optional ``conc=C`` sets the Dirichlet concentration, default 0.5);
    ``markov:n=4,init=0.5/0.5,trans=0.9/0.1/0.2/0.8`` is an explicit chain (``trans`` row by
    row). The target is the chain's distribution over sequences of length ``n``; the exact
    evaluation limits the size to :math:`(2d+1)^n \\le 2 \\cdot 10^6`.

    Raises:
      ValueError: naming what was wrong and what is allowed.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"the target must be a non-empty string; allowed: {TARGET_SPECS}")
    s = spec.strip()
    if s in TOY_TARGETS:
        return Target(s, "table", q=toy_target(s), info={"n": 5, "d": 2})
    name, _, body = s.partition(":")
    if name == "markov" and body:
        return _parse_markov(spec, body)
    if name == "npy" and body:
        q = _load_table(body, spec)
        return Target(spec, "table", q=q, info={"n": q.ndim, "d": q.shape[0]})
    if name in ("energy", "discrete-energy"):
        gamma = parse_gamma(body) if body else Identity()
        return Target(spec, name, gamma=gamma, info={"gamma": gamma.spec})
    raise ValueError(f"unknown target {spec!r}; allowed: {TARGET_SPECS}")
