"""mdm_ot._pytree: tree structures of different classes never compare equal.

The failure this guards against (CI, stop 8): ``jax.tree_util.register_dataclass`` gave
``Linear()`` and ``Cosine()`` tree structures that compare equal with different hashes,
and jit's cache once ran the program compiled for one on the other.
"""

import dataclasses
import functools
import itertools
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mdm_ot
from mdm_ot import register_dataclass
from mdm_ot import schedules as S
from mdm_ot.sampling import markov_oracle, table_oracle

# One instance per schedule class; the empty ones (no leaves) are where equal structures
# did the damage.
MASKS = [S.Linear(), S.Sine(), S.Sine2(), S.Cosine(), S.Poly(2.0), S.LogLinear(1e-3),
         S.Optimal(S.Identity()), S.beta_schedule(0.7, 1.3)]
GAMMAS = [S.Identity(), S.BetaCDF(0.7, 1.3)]


@pytest.mark.parametrize("family", [MASKS, GAMMAS], ids=["mask", "gamma"])
def test_structures_of_different_classes_differ(family):
    trees = [jax.tree_util.tree_structure(x) for x in family]
    for (x, tx), (y, ty) in itertools.combinations(zip(family, trees, strict=True), 2):
        assert tx != ty, (type(x).__name__, type(y).__name__)
    for x, tx in zip(family, trees, strict=True):
        # Same class, same static fields: equal structures and hashes (jit reuses them).
        again = jax.tree_util.tree_structure(jax.tree_util.tree_map(lambda v: v, x))
        assert again == tx and hash(again) == hash(tx)


def test_oracles_of_different_classes_differ():
    q = np.full((2, 2), 0.25)
    table = table_oracle(q)
    markov = markov_oracle(np.array([0.5, 0.5]), np.full((2, 2), 0.5))
    assert jax.tree_util.tree_structure(table) != jax.tree_util.tree_structure(markov)


@functools.partial(register_dataclass, data_fields=["alpha", "omega"], meta_fields=["num_steps"])
@dataclasses.dataclass(frozen=True)
class _OnGrid:
    alpha: jax.Array
    omega: jax.Array
    num_steps: int


def test_static_fields_are_part_of_the_structure():
    a = _OnGrid(jnp.zeros(5), jnp.ones(5), 4)
    b = _OnGrid(jnp.zeros(5), jnp.ones(5), 8)
    assert jax.tree_util.tree_structure(a) != jax.tree_util.tree_structure(b)
    leaves, tree = jax.tree_util.tree_flatten(a)
    assert len(leaves) == 2
    back = jax.tree_util.tree_unflatten(tree, leaves)
    assert type(back) is _OnGrid and back.num_steps == 4


def test_jit_runs_each_schedule_class_on_its_own_program():
    """Every class through one jitted function, in three orders: the value is the class's."""

    @jax.jit
    def alpha_at(schedule, t):
        return schedule.pair(t)[0]

    # Optimal(Identity()) is sin^2 again: left out so that every value differs.
    masks = [x for x in MASKS if not isinstance(x, S.Optimal) or isinstance(x.gamma, S.BetaCDF)]
    t = jnp.asarray(0.3)
    expected = [float(x.pair(t)[0]) for x in masks]
    assert len({round(v, 4) for v in expected}) == len(masks)  # they do differ at t = 0.3
    for order in (masks, masks[::-1], masks + masks):
        got = {id(x): float(alpha_at(x, t)) for x in order}
        for x, want in zip(masks, expected, strict=True):
            np.testing.assert_allclose(got[id(x)], want, rtol=1e-6, atol=0, err_msg=type(x).__name__)


def test_many_same_layout_classes_through_one_jit_each_get_their_own_program():
    """The symptom itself: with jax's register_dataclass, 80 empty classes through one
    jitted function gave 8 to 15 results of another class (three runs, jax 0.10.2)."""
    classes = []
    for i in range(80):
        c = dataclasses.make_dataclass(f"Empty{i}", [], frozen=True, namespace={"k": float(i)})
        classes.append(register_dataclass(c, data_fields=[], meta_fields=[]))
    f = jax.jit(lambda s, t: s.k + t)
    got = [float(f(c(), jnp.asarray(0.0))) for c in classes]
    assert got == [c.k for c in classes]


def test_keys_name_the_fields_and_post_init_runs():
    seen = []

    @functools.partial(register_dataclass, data_fields=["x", "y"], meta_fields=["tag"])
    @dataclasses.dataclass(frozen=True)
    class Pair:
        x: object
        y: object
        tag: str

        def __post_init__(self):
            seen.append(self.tag)

    p = Pair(1.0, 2.0, "t")
    paths = [jax.tree_util.keystr(k) for k, _ in jax.tree_util.tree_flatten_with_path(p)[0]]
    assert paths == [".x", ".y"]
    doubled = jax.tree_util.tree_map(lambda v: 2 * v, p)
    assert (doubled.x, doubled.y, doubled.tag) == (2.0, 4.0, "t")
    assert seen == ["t", "t"]  # constructed, then rebuilt through the constructor


def test_bare_decorator_reads_static_metadata():
    @register_dataclass
    @dataclasses.dataclass(frozen=True)
    class WithStatic:
        w: object
        n: int = dataclasses.field(default=3, metadata={"static": True})

    leaves, tree = jax.tree_util.tree_flatten(WithStatic(1.5, 4))
    assert leaves == [1.5]
    assert tree != jax.tree_util.tree_structure(WithStatic(1.5, 5))


def test_bad_registrations_are_refused():
    @dataclasses.dataclass(frozen=True)
    class Two:
        a: object
        b: object

    with pytest.raises(ValueError, match="each init field once"):
        register_dataclass(Two, data_fields=["a"], meta_fields=[])
    with pytest.raises(ValueError, match="each init field once"):
        register_dataclass(Two, data_fields=["a", "b"], meta_fields=["a"])

    class NotADataclass:
        pass

    with pytest.raises(TypeError, match="not a dataclass"):
        register_dataclass(NotADataclass, data_fields=[], meta_fields=[])


def test_no_module_registers_with_jax_register_dataclass():
    """The library and its tests register pytrees through mdm_ot._pytree only."""
    root = pathlib.Path(mdm_ot.__file__).parent
    files = list(root.rglob("*.py")) + list(pathlib.Path(__file__).parent.rglob("*.py"))
    offenders = [str(f) for f in files if f.name not in ("_pytree.py", "test_pytree.py")
                 and "tree_util.register_dataclass" in f.read_text()]
    assert offenders == []
