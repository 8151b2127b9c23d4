r"""Exact oracle denoisers: the conditionals :math:`q(x_i \mid z_{UM})` of a known target.

A *denoiser* maps a batch of partially masked sequences ``z`` (integers, shape
``[..., n]``, tokens ``0 .. d-1`` and the mask token ``d``) to per-position probabilities
over the vocabulary (shape ``[..., n, d]``). The oracles here return the exact conditionals
of a known distribution :math:`q` on :math:`V^n`:

* :class:`TableOracle`, for an explicit table :math:`q` (small ``n`` and ``d``): every
  conditional is read from the *marginal table* :math:`\tilde q(z) = \sum_{x \sim z} q(x)`
  over the :math:`(d+1)^n` states, built in :math:`O(n (d+1)^n)` operations;
* :class:`MarkovOracle`, for a Markov chain (initial distribution and transition matrix),
  by the forward-backward recursions, for any mask pattern and ``n`` up to thousands.

Conventions (MATH.md sections 1 and 4): at a masked position the oracle returns
:math:`q(x_i = \cdot \mid z_{UM})`; at an unmasked position it returns the point mass on the
token already there; at a state off the support of :math:`q` (:math:`\tilde q(z) = 0`, which
parallel sampling steps can reach) it returns the uniform distribution over :math:`V` at
every masked position.

State indexing: that of :func:`mdm_ot.bruteforce.state_index` (first position most
significant), so that the marginal table reshaped to ``(d+1,) * n`` is indexed by ``z``
directly.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from mdm_ot._pytree import is_concrete, register_dataclass
from mdm_ot.bruteforce import state_index

__all__ = [
    "MarkovOracle",
    "TableOracle",
    "conditional_table",
    "marginal_table",
    "markov_conditionals",
    "markov_oracle",
    "table_oracle",
]


# ----------------------------------------------------------------------------- helpers


def _normalize(v: jax.Array) -> jax.Array:
    """Divide by the sum over the last axis; an all-zero vector stays zero."""
    s = jnp.sum(v, axis=-1, keepdims=True)
    return v / jnp.where(s > 0, s, 1)


def _finish(post: jax.Array, z: jax.Array) -> jax.Array:
    """Normalize masked positions (uniform where the state is off the support) and put a
    point mass on the token at unmasked positions."""
    d = post.shape[-1]
    s = jnp.sum(post, axis=-1, keepdims=True)
    post = jnp.where(s > 0, post / jnp.where(s > 0, s, 1), jnp.asarray(1.0 / d, post.dtype))
    masked = (z == d)[..., None]
    return jnp.where(masked, post, jax.nn.one_hot(z, d, dtype=post.dtype))



# ----------------------------------------------------------------------------- tables


def marginal_table(q: ArrayLike) -> jax.Array:
    r"""The marginal table :math:`\tilde q(z) = \sum_{x \text{ compatible with } z} q(x)`.

    ``q`` has shape ``(d,) * n``; the result has shape ``(d+1,) * n`` where index ``d`` on
    an axis means that position is masked (summed over). Built one axis at a time: append
    to axis ``i`` the sum over axis ``i``.

    References:
      MATH.md section 4 (exact oracle for small explicit q); the paper's Eq. (4) (concrete
      score :math:`p_t(x)/p_t(z) = \frac{\alpha}{1-\alpha} q(x_i = v \mid z_{UM})`).
    """
    big = jnp.asarray(q)
    for i in range(big.ndim):
        big = jnp.concatenate([big, jnp.sum(big, axis=i, keepdims=True)], axis=i)
    return big


@jax.jit
def conditional_table(q: ArrayLike) -> jax.Array:
    r"""Leave-one-out conditionals :math:`q(x_i = v \mid z_{UM \setminus i})` for every state.

    For a state ``z`` with position ``i`` masked this is the oracle's answer
    :math:`q(x_i = v \mid z_{UM})`; the value of ``z_i`` itself is ignored. Where
    :math:`\tilde q` of the state with position ``i`` masked is zero (off the support),
    the row is uniform over :math:`V`.

    Args:
      q: probabilities of shape ``(d,) * n``.

    Returns:
      ``[(d+1)^n, n, d]`` array, rows indexed by :func:`mdm_ot.bruteforce.state_index`.

    References:
      MATH.md sections 1 and 4 (concrete score; off-support convention).
    """
    q = jnp.asarray(q)
    n, d = q.ndim, q.shape[0]
    big = marginal_table(q)
    cols = []
    for i in range(n):
        num = jax.lax.slice_in_dim(big, 0, d, axis=i)  # axis i now holds the token v
        num = jnp.expand_dims(jnp.moveaxis(num, i, -1), i)  # z_i's axis is a dummy
        cols.append(jnp.broadcast_to(num, (d + 1,) * n + (d,)))
    num = jnp.stack(cols, axis=-2).reshape(((d + 1) ** n, n, d))
    s = jnp.sum(num, axis=-1, keepdims=True)
    return jnp.where(s > 0, num / jnp.where(s > 0, s, 1), jnp.asarray(1.0 / d, num.dtype))


def _check_table(q) -> None:
    if not is_concrete(q):
        return
    qa = np.asarray(q)
    if qa.ndim < 1 or len(set(qa.shape)) != 1 or qa.shape[0] < 1:
        raise ValueError(f"q must have shape (d,) * n, got {qa.shape}")
    if not np.all(np.isfinite(qa)) or np.any(qa < 0):
        raise ValueError("q must be finite and nonnegative")
    total = float(qa.sum())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"q must sum to 1, got {total!r}")


@functools.partial(
    register_dataclass, data_fields=["q", "cond"], meta_fields=[]
)
@dataclasses.dataclass(frozen=True, eq=False)
class TableOracle:
    r"""Exact denoiser of an explicit distribution ``q`` of shape ``(d,) * n``.

    Build it with :func:`table_oracle` (which validates ``q``). Calling it on ``z`` of shape
    ``[..., n]`` returns ``[..., n, d]``: the exact conditionals at masked positions
    (uniform off the support), point masses at unmasked positions.

    Attributes:
      q: the target, shape ``(d,) * n``.
      cond: :func:`conditional_table` of ``q``, shape ``[(d+1)^n, n, d]``.

    References:
      MATH.md section 4 ("An exact oracle denoiser exists for small explicit q").
    """

    q: jax.Array
    cond: jax.Array

    @property
    def length(self) -> int:
        return self.q.ndim

    @property
    def vocab_size(self) -> int:
        return self.q.shape[0]

    def __call__(self, z: ArrayLike) -> jax.Array:
        z = jnp.asarray(z)
        if z.shape[-1] != self.length:
            raise ValueError(f"this oracle is for length {self.length}, got z of shape {z.shape}")
        return _table_lookup(self.cond, z)


@jax.jit
def _table_lookup(cond: jax.Array, z: jax.Array) -> jax.Array:
    return _finish(cond[state_index(z, cond.shape[-1])], z)


def table_oracle(q: ArrayLike) -> TableOracle:
    """Validate ``q`` (shape ``(d,) * n``, nonnegative, sums to 1) and build its oracle."""
    _check_table(q)
    q = jnp.asarray(q)
    return TableOracle(q=q, cond=conditional_table(q))


# ----------------------------------------------------------------------------- Markov


def _forward_backward(init: jax.Array, trans: jax.Array, z: jax.Array) -> jax.Array:
    """Unnormalized posteriors by the scaled forward-backward recursions (two scans over
    positions, batch ``[B, n]``). The reference for :func:`_gap_posteriors`."""
    d = init.shape[0]
    emit = jnp.where((z == d)[..., None], jnp.ones((), init.dtype), jax.nn.one_hot(z, d, dtype=init.dtype))
    emit = jnp.swapaxes(emit, 0, 1)  # [n, B, d]

    def fwd(pred, e):
        return _normalize(_normalize(pred * e) @ trans), pred

    def bwd(back, e):
        return _normalize((e * back) @ trans.T), back

    start = jnp.broadcast_to(_normalize(init), emit.shape[1:])
    _, preds = jax.lax.scan(fwd, start, emit)
    _, backs = jax.lax.scan(bwd, jnp.ones_like(start), emit, reverse=True)
    return jnp.swapaxes(preds * backs, 0, 1)


def _gap_posteriors(init: jax.Array, trans: jax.Array, z: jax.Array) -> jax.Array:
    r"""Unnormalized posteriors from matrix powers, with no sequential loop over positions.

    Given the nearest unmasked positions :math:`i < j < k` around position ``j``,
    :math:`q(x_j = v \mid z_{UM}) \propto P^{j-i}(z_i, v)\, P^{k-j}(v, z_k)` (the factor from
    the left is :math:`(\pi_0 P^{j})(v)` when nothing is unmasked before ``j``, the factor from
    the right is 1 when nothing is unmasked after). The state is off the support when some
    pair of consecutive unmasked positions has :math:`P^{k-i}(z_i, z_k) = 0` (or the first
    has :math:`(\pi_0 P^{k})(z_k) = 0`); then every posterior is set to zero (uniform later).
    The powers :math:`P^0 .. P^n` come from one associative scan.
    """
    d = init.shape[0]
    batch, n = z.shape
    eye = jnp.eye(d, dtype=trans.dtype)
    powers = jnp.concatenate(
        [eye[None], jax.lax.associative_scan(jnp.matmul, jnp.broadcast_to(trans, (n, d, d)))], axis=0
    )  # [n+1, d, d]: P^0 .. P^n
    head = jnp.einsum("v,kvw->kw", init, powers[:n])  # [n, d]: pi0 P^j
    pos = jnp.arange(n)
    obs = z != d
    seen = jnp.where(obs, pos, -1)
    # (associative scans: XLA:CPU lowers lax.cummax to a quadratic reduce_window)
    last = jax.lax.associative_scan(jnp.maximum, seen, axis=1)
    prev = jnp.concatenate([jnp.full((batch, 1), -1, last.dtype), last[:, :-1]], axis=1)
    ahead = jax.lax.associative_scan(jnp.minimum, jnp.where(obs, pos, n), axis=1, reverse=True)
    nxt = jnp.concatenate([ahead[:, 1:], jnp.full((batch, 1), n, ahead.dtype)], axis=1)
    tok = jnp.where(obs, z, 0)
    z_prev = jnp.take_along_axis(tok, jnp.maximum(prev, 0), axis=1)
    z_next = jnp.take_along_axis(tok, jnp.minimum(nxt, n - 1), axis=1)
    left = jnp.where((prev >= 0)[..., None], powers[pos - prev, z_prev], head[pos])  # [B, n, d]
    right = powers[jnp.where(nxt < n, nxt - pos, 0)[..., None], jnp.arange(d), z_next[..., None]]
    right = jnp.where((nxt < n)[..., None], right, 1)
    # off the support: an unmasked token with zero probability given the previous one
    link = jnp.take_along_axis(left, tok[..., None], axis=-1)[..., 0]
    off = jnp.any(obs & (link <= 0), axis=1)
    return jnp.where(off[:, None, None], 0, left * right)


@functools.partial(jax.jit, static_argnames=("method",))
def markov_conditionals(init: ArrayLike, trans: ArrayLike, z: ArrayLike, *, method: str = "powers") -> jax.Array:
    r"""Exact conditionals of a Markov chain given any mask pattern.

    The chain is :math:`q(x) = \pi_0(x_1) \prod_{j>1} P(x_{j-1}, x_j)`. Between the nearest
    unmasked positions :math:`i < j < k`, :math:`q(x_j = v \mid z_{UM}) \propto
    P^{j-i}(z_i, v) P^{k-j}(v, z_k)`: the forward-backward messages of a chain observed at
    isolated positions are rows and columns of matrix powers. ``method="powers"`` (default)
    computes them so, vectorized over positions (fast for long sequences);
    ``method="scan"`` runs the scaled forward-backward recursions (two scans over positions).

    Args:
      init: initial distribution :math:`\pi_0`, ``[d]``.
      trans: transition matrix :math:`P`, ``[d, d]``, rows sum to 1.
      z: ``[..., n]`` integers, mask = ``d``.
      method: ``"powers"`` or ``"scan"``.

    Returns:
      ``[..., n, d]``: conditionals at masked positions (uniform where :math:`z_{UM}` has
      probability zero), point masses at unmasked ones.

    References:
      MATH.md section 4 (oracle conditionals, off-support convention).
    """
    init = jnp.asarray(init)
    trans = jnp.asarray(trans, dtype=init.dtype)
    z = jnp.asarray(z)
    n = z.shape[-1]
    flat = z.reshape((-1, n))
    if method == "powers":
        post = _gap_posteriors(init, trans, flat)
    elif method == "scan":
        post = _forward_backward(init, trans, flat)
    else:
        raise ValueError(f"method must be 'powers' or 'scan', got {method!r}")
    return _finish(post.reshape(z.shape + (init.shape[0],)), z)


@functools.partial(
    register_dataclass, data_fields=["init", "trans"], meta_fields=[]
)
@dataclasses.dataclass(frozen=True, eq=False)
class MarkovOracle:
    r"""Exact denoiser of a Markov chain target (any length).

    Build it with :func:`markov_oracle` (which validates). Calling it on ``z`` of shape
    ``[..., n]`` gives :func:`markov_conditionals`.

    Attributes:
      init: initial distribution, ``[d]``.
      trans: transition matrix, ``[d, d]``.

    References:
      MATH.md section 4.
    """

    init: jax.Array
    trans: jax.Array

    @property
    def vocab_size(self) -> int:
        return self.init.shape[0]

    def __call__(self, z: ArrayLike) -> jax.Array:
        return markov_conditionals(self.init, self.trans, z)

    def log_prob(self, x: ArrayLike) -> jax.Array:
        r""":math:`\log q(x)` for complete sequences ``x`` of shape ``[..., n]`` (``-inf``
        off the support)."""
        return _markov_log_prob(self.init, self.trans, jnp.asarray(x))

    def sample(self, key: jax.Array, num: int, length: int) -> jax.Array:
        """Exact samples ``[num, length]`` from the chain (ancestral sampling)."""
        return _markov_sample(self.init, self.trans, key, num=num, length=length)

    def position_marginals(self, length: int) -> jax.Array:
        r"""Marginals :math:`\mu_j = \pi_0 P^{j}`, ``[length, d]``."""

        def step(mu, _):
            return mu @ self.trans, mu

        _, mus = jax.lax.scan(step, self.init, None, length=length)
        return mus

    def table(self, length: int) -> jax.Array:
        """The explicit distribution on :math:`V^{length}`, shape ``(d,) * length``."""
        q = self.init
        for _ in range(length - 1):
            q = q[..., :, None] * self.trans
        return q

    def entropy(self, length: int) -> jax.Array:
        r"""Entropy :math:`H(q) = H(\pi_0) + \sum_{j<n} \sum_u \mu_j(u) H(P(u, \cdot))`."""
        from jax.scipy.special import entr

        mus = self.position_marginals(length)
        row_h = jnp.sum(entr(self.trans), axis=-1)
        return jnp.sum(entr(self.init)) + jnp.sum(mus[:-1] @ row_h)

    def pair_frequencies(self, length: int) -> jax.Array:
        r"""Expected fraction of adjacent pairs equal to ``(u, v)``:
        :math:`\frac{1}{n-1} \sum_{j<n} \mu_j(u) P(u, v)`, ``[d, d]``."""
        mus = self.position_marginals(length)
        return jnp.mean(mus[:-1], axis=0)[:, None] * self.trans


@jax.jit
def _markov_log_prob(init, trans, x):
    lp = jnp.log(init)[x[..., 0]]
    return lp + jnp.sum(jnp.log(trans)[x[..., :-1], x[..., 1:]], axis=-1)


@functools.partial(jax.jit, static_argnames=("num", "length"))
def _markov_sample(init, trans, key, *, num, length):
    keys = jax.random.split(key, length)
    x0 = jax.random.categorical(keys[0], jnp.log(init), shape=(num,))

    def step(prev, k):
        nxt = jax.random.categorical(k, jnp.log(trans)[prev], axis=-1)
        return nxt, nxt

    _, rest = jax.lax.scan(step, x0, keys[1:])
    return jnp.concatenate([x0[:, None], rest.T], axis=1).astype(jnp.int32)


def markov_oracle(init: ArrayLike, trans: ArrayLike) -> MarkovOracle:
    """Validate (a distribution, a row-stochastic matrix of matching size) and build."""
    if is_concrete(init, trans):
        i, t = np.asarray(init, dtype=float), np.asarray(trans, dtype=float)
        if i.ndim != 1 or t.shape != (i.shape[0], i.shape[0]):
            raise ValueError(f"need init [d] and trans [d, d], got {i.shape} and {t.shape}")
        if not (np.all(np.isfinite(i)) and np.all(np.isfinite(t))) or i.min() < 0 or t.min() < 0:
            raise ValueError("init and trans must be finite and nonnegative")
        if abs(i.sum() - 1) > 1e-6 or np.max(np.abs(t.sum(axis=1) - 1)) > 1e-6:
            raise ValueError("init must sum to 1 and every row of trans must sum to 1")
    init = jnp.asarray(init)
    return MarkovOracle(init=init, trans=jnp.asarray(trans, dtype=init.dtype))
