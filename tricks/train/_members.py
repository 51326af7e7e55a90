"""How a program of one run is mapped over the members of a population (`train_population`).

Two forms, chosen per backend and model by measurement (`tricks.train._side_by_side`):

* ``vmap``: `jax.vmap`, the members' operations batched (a matrix product becomes a batched
  one, a convolution over stacked weights a grouped convolution);
* ``map``: `jax.lax.map`, one member after another inside one program (a loop over the
  members: one compiled copy of the step).

They compute the same numbers and differ in speed: on the 2-core CPU machine (AVX2,
session 25), one training step of 4 members of the Fashion-MNIST CNN takes 198-220 ms
mapped, its convolutions laid out for XLA:CPU (`tricks.train.canonical_convolutions`;
5035 ms without), against 4 x 70 ms one at a time (and 1436 ms vmapped on the AVX-512
machine). Until session 25 a third form wrote the members' programs out one after
another, as the loop's calls then did for convolutions on a CPU: 244-249 ms, compiled in
7.8 s against the mapped form's 3.3 s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

FORMS = ("vmap", "map")
"""The ways `over_members` maps a program over the members."""


def member_axes(state: Any) -> Any:
    """`jax.vmap`'s axes for a state of several members: a leading member axis on every
    leaf but the step counter, which the members share.

    Examples:
        >>> from tricks.train import TrainState
        >>> state = TrainState(step=jnp.int32(0), params={"w": jnp.zeros((2, 3))}, batch_stats={},
        ...                    opt_state=(), rng=jnp.zeros((2, 2), jnp.uint32))
        >>> member_axes(state).step, member_axes(state).params
        (None, {'w': 0})
    """
    return jax.tree.map(lambda _: 0, state.replace(step=None)).replace(step=None)


def over_members(fn: Callable, members: int, in_axes: Sequence[Any], out_axes: Any, form: str = "vmap",
                 spmd_axis_name: str | None = None) -> Callable:
    """`fn` of one member mapped over `members` in the `form` given (`FORMS`).

    Args:
        fn: the program of one member.
        members: how many (the size of every mapped axis).
        in_axes: per argument, 0 (stacked on a leading member axis) or None (shared), or a
            pytree of them that is a prefix of the argument's, as `jax.vmap` takes them.
        out_axes: the same for the results: a shared result (None) is member 0's.
        form: ``vmap`` or ``map``.
        spmd_axis_name: under ``vmap``, the mesh axis the member axis is split over.

    Examples:
        >>> fn = lambda w, x: (w * x, x)
        >>> w, x = jnp.arange(3.0), jnp.float32(2.0)
        >>> [over_members(fn, 3, (0, None), (0, None), form)(w, x)[0].tolist() for form in FORMS]
        [[0.0, 2.0, 4.0], [0.0, 2.0, 4.0]]
    """
    if form == "vmap":
        return jax.vmap(fn, in_axes=tuple(in_axes), out_axes=out_axes, spmd_axis_name=spmd_axis_name)
    if form not in FORMS:
        raise ValueError(f"form {form!r}: expected one of {', '.join(FORMS)}")

    def one(i, args):  # member i's arguments
        return [_along(axes, arg, lambda x: x[i]) for axes, arg in zip(in_axes, args, strict=True)]  # noqa: B023

    def mapped(*args):
        stacked = jax.lax.map(lambda i: fn(*one(i, args)), jnp.arange(members))
        return _along(out_axes, stacked, lambda x: x, shared=lambda x: x[0])

    return mapped


def _along(axes: Any, tree: Any, mapped: Callable, shared: Callable = lambda x: x) -> Any:
    """`mapped` applied to the leaves of `tree` under an axis 0 of `axes` (a prefix of it),
    `shared` to those under None."""
    return jax.tree.map(lambda axis, sub: jax.tree.map(shared if axis is None else mapped, sub), axes, tree,
                        is_leaf=lambda axis: axis is None)
