"""Registering frozen dataclasses as pytrees whose tree structures know their class.

Why not ``jax.tree_util.register_dataclass``: in jax/jaxlib 0.10.2 (the release this was found with),
the tree structures of two *different* dataclasses registered that way with the same
field layout compare equal (``tree_structure(Linear()) == tree_structure(Cosine())`` is
True while their hashes differ). jit's C++ cache compares keys whose hashes agree in only
a few bits by ``==``, so now and then a call with one schedule class ran the program
compiled for another: CI once saw ``conditional_path(Cosine(), 0.5)`` return the linear
schedule's path. The same report, for another project: cusp-ai-oss/kUPS pull request 114.

Nodes registered here with ``register_pytree_with_keys`` carry their class in the tree
structure (custom nodes compare by type), and flattening with keys still names the
fields, as ``register_dataclass`` did. Unflattening calls the constructor, as
``register_dataclass`` does, so ``__post_init__`` checks behave the same.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax

__all__ = ["frozen_pytree", "is_concrete", "register_dataclass"]


def _fields(cls, data_fields, meta_fields):
    if data_fields is None and meta_fields is None:
        # Like register_dataclass used as a bare decorator: fields marked
        # ``metadata={"static": True}`` are static, the others are leaves.
        init = [f for f in dataclasses.fields(cls) if f.init]
        meta = [f.name for f in init if f.metadata.get("static", False)]
        data = [f.name for f in init if not f.metadata.get("static", False)]
        return tuple(data), tuple(meta)
    data, meta = tuple(data_fields or ()), tuple(meta_fields or ())
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    given = set(data) | set(meta)
    if given != names or len(given) != len(data) + len(meta):
        raise ValueError(
            f"{cls.__name__}: data_fields + meta_fields must name each init field once; "
            f"fields {sorted(names)}, got data {list(data)}, meta {list(meta)}")
    return data, meta


def register_dataclass(
    cls: type | None = None,
    data_fields: Sequence[str] | None = None,
    meta_fields: Sequence[str] | None = None,
) -> Any:
    """Register the dataclass ``cls`` as a pytree: ``data_fields`` are children (leaves or
    subtrees), ``meta_fields`` are static and part of the tree structure (hashable).

    Same call forms as ``jax.tree_util.register_dataclass`` (direct, bare decorator, or
    ``functools.partial`` with the field lists); returns ``cls``.
    """
    if cls is None:
        return lambda c: register_dataclass(c, data_fields, meta_fields)
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__name__} is not a dataclass")
    data, meta = _fields(cls, data_fields, meta_fields)
    keys = tuple(jax.tree_util.GetAttrKey(name) for name in data)

    def flatten(obj):
        return [getattr(obj, n) for n in data], tuple(getattr(obj, n) for n in meta)

    def flatten_with_keys(obj):
        children, aux = flatten(obj)
        return list(zip(keys, children, strict=True)), aux

    def unflatten(aux, children):
        return cls(**dict(zip(data, children, strict=True)), **dict(zip(meta, aux, strict=True)))

    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)
    return cls


def frozen_pytree(cls: type | None = None, *, data: Sequence[str] = (), meta: Sequence[str] = ()) -> Any:
    """Class decorator: make ``cls`` a frozen dataclass (identity equality, ``eq=False``) and
    register it with :func:`register_dataclass`; ``data`` fields are children, ``meta``
    fields static. Bare (``@frozen_pytree``: no fields) or with field lists."""

    def wrap(c):
        c = dataclasses.dataclass(frozen=True, eq=False)(c)
        return register_dataclass(c, data_fields=list(data), meta_fields=list(meta))

    return wrap if cls is None else wrap(cls)


def is_concrete(*xs: Any) -> bool:
    """True when no leaf of ``xs`` is a tracer: values can be checked in Python (at the
    boundary, outside jit); under tracing the checks are skipped."""
    return not any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(xs))
