"""Convolutions laid out the way XLA:CPU runs them fast, wherever they are in a program.

XLA:CPU runs a convolution with its fast (Eigen) kernels only when its operands are laid
out canonically: input (batch, spatial..., feature), kernel (spatial..., in, out). A pass,
``ConvCanonicalization``, transposes the operands of every other convolution into that
layout, but only those of the program's entry computation ("all top-level convolutions",
its header says): a convolution inside a ``while`` loop's body keeps its layout and runs
as a naive loop nest. Flax's forward convolutions are canonical (NHWC, HWIO), but the
weight gradient JAX derives for them is not (its dimension numbers ``f0b_i0o->0bf``:
the batch is the contracted feature). So on XLA:CPU a training step inside a
`jax.lax.fori_loop` ran several times slower than the same step in straight-line code,
and until session 25 the training calls of convolutional models ran unrolled instead.

`canonical_convolutions` does that pass's work in JAX, before XLA sees the program: it
traces a function to a jaxpr and evaluates it again, with every convolution's operands
transposed into the canonical layout and its result transposed back (the same
arithmetic: the convolution's dimension numbers say where each axis is, nothing else
changes). Nested ``jit``\\s are evaluated inline, so their convolutions are laid out too;
other higher-order primitives (``scan``, ``cond``, ``checkpoint``, custom derivatives)
are kept as they are.

On the 2-core AMD EPYC machine (AVX2; jax 0.10.2, session 25; the loop figures are
`tricks bench loop`'s ``batched`` reference, the bare step run 100 per call), ms per
training step:

| | one step per call | in a loop, as derived | in a loop, laid out |
|---|---|---|---|
| one 1-D convolution's weight gradient, 512x40x32, width 5 | 8.7-12 | 300-330 | 12 |
| MNIST-1D `cnn1d` (batch 100) | 0.86-1.00 | 3.6-3.8 | 0.69-0.78 |
| Fashion-MNIST `cnn` (batch 128) | 75-87 | about 1260 (4 members in `jax.lax.map`: 5035) | 50.1-50.4 |

and the loops elsewhere: `tricks.diagnostics.overfit_check` (a `jax.lax.scan` of steps)
on the Fashion-MNIST CNN, 50 steps, 6.3 s against 36.5 s; Lanczos' top Hessian
eigenvalue of `cnn1d` (`tricks.diagnostics.top_eigenvalues`, products in a `fori_loop`),
2.6 s against 4.3 s, compilation included.

On other backends the function is returned as it is (`needed`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.extend.core import Literal

CONVOLUTION = "conv_general_dilated"
INLINED = ("pjit", "jit", "closed_call")
"""Primitives whose jaxpr is evaluated inline (so their convolutions are laid out too)."""
MAX_TRACED = 8
"""Jaxprs kept per laid-out function (one per argument structure and types; a training call uses one)."""


def needed() -> bool:
    """Whether convolutions need laying out here: on an XLA:CPU backend.

    Examples:
        >>> needed() == (jax.default_backend() == "cpu")
        True
    """
    return jax.default_backend() == "cpu"


def canonical_convolutions(fn: Callable) -> Callable:
    r"""`fn` with every convolution in its program laid out canonically (see the module), on a CPU backend.

    Args:
        fn: a function of arrays (pytrees in, pytrees out), traceable by JAX.

    Returns:
        A function of the same arguments and results: `fn` itself where `needed` says no.

    Examples:
        >>> import numpy as np
        >>> def weight_gradient(w, x):  # a 1-D convolution's weight gradient, as JAX derives it
        ...     numbers = ("NWC", "WIO", "NWC")
        ...     conv = lambda w: jax.lax.conv_general_dilated(x, w, (1,), "SAME", dimension_numbers=numbers)
        ...     return jax.grad(lambda w: jnp.sum(conv(w) ** 2))(w)
        >>> w, x = jnp.ones((3, 4, 5)), jnp.asarray(np.random.default_rng(0).normal(size=(2, 8, 4)), jnp.float32)
        >>> laid_out = canonical_convolutions(weight_gradient)
        >>> bool(jnp.allclose(laid_out(w, x), weight_gradient(w, x), rtol=1e-5))
        True
        >>> import re
        >>> def labels(f):  # the dimension numbers of the convolutions in f's program
        ...     text = jax.jit(f).lower(w, x).as_text()
        ...     return sorted(set(re.findall(r"dim_numbers = (\[[^]]*\]x\[[^]]*\]->\[[^]]*\])", text)))
        >>> labels(weight_gradient), labels(laid_out) if needed() else ["[b, 0, f]x[0, i, o]->[b, 0, f]"]
        (['[b, 0, f]x[0, i, o]->[b, 0, f]', '[f, 0, b]x[i, 0, o]->[0, b, f]'], ['[b, 0, f]x[0, i, o]->[b, 0, f]'])
    """
    if not needed():
        return fn

    traced: dict = {}  # (argument structure, types) -> (jaxpr, result structure): see `_traced`

    @functools.wraps(fn)
    def laid_out(*args):
        flat, tree = jax.tree.flatten(args)
        closed, structure = _traced(fn, traced, tree, flat)
        return jax.tree.unflatten(structure, _evaluate(closed.jaxpr, closed.consts, flat))

    return laid_out


def _traced(fn: Callable, traced: dict, tree: Any, flat: list) -> tuple:
    """`fn`'s closed jaxpr for arguments of `tree`'s structure and `flat`'s types, and its
    results' structure: traced once, then read from `traced`.

    A training call traces its step three times (the summed metrics' shapes, the carry's,
    the loop body), all for the same types: tracing the default digits run's step took
    0.2-0.3 s of its 3 s warm start. A jaxpr whose constants include another trace's
    values (`fn` closes over them) is not kept.
    """
    key = (tree, tuple(jax.typeof(x) for x in flat))
    if key in traced:
        return traced[key]
    closed, shapes = jax.make_jaxpr(lambda *flat_args: fn(*jax.tree.unflatten(tree, flat_args)),
                                    return_shape=True)(*flat)
    found = closed, jax.tree.structure(shapes)
    if not any(isinstance(c, jax.core.Tracer) for c in closed.consts):
        if len(traced) >= MAX_TRACED:
            traced.clear()
        traced[key] = found
    return found


def _evaluate(jaxpr, consts: list, args: list) -> list:
    """Evaluates `jaxpr` (as `jax.core.eval_jaxpr` does), its convolutions laid out and nested jits inline."""
    env: dict = dict(zip(jaxpr.constvars, consts, strict=True)) | dict(zip(jaxpr.invars, args, strict=True))
    read = lambda var: var.val if isinstance(var, Literal) else env[var]  # noqa: E731
    for eqn in jaxpr.eqns:
        inputs = [read(var) for var in eqn.invars]
        name = eqn.primitive.name
        inner = eqn.params.get("jaxpr", eqn.params.get("call_jaxpr")) if name in INLINED else None
        if name == CONVOLUTION:
            outputs = [_canonical(eqn.primitive, *inputs, **eqn.params)]
        elif inner is not None:
            outputs = _evaluate(inner.jaxpr, inner.consts, inputs)
        else:
            found = eqn.primitive.get_bind_params(eqn.params)  # (jax < 0.10: (subfunctions, params))
            subfuns, params = found if isinstance(found, tuple) else ((), found)
            outputs = eqn.primitive.bind(*subfuns, *inputs, **params)
            outputs = outputs if eqn.primitive.multiple_results else [outputs]
        env.update(zip(eqn.outvars, outputs, strict=True))
    return [read(var) for var in jaxpr.outvars]


def _canonical(primitive, lhs: Any, rhs: Any, **params) -> jax.Array:
    """One convolution with operands transposed to (batch, spatial..., feature) and
    (spatial..., in, out), its result transposed back to its dimension numbers' layout."""
    numbers = params["dimension_numbers"]  # lhs (batch, feature, spatial...), rhs (out, in, spatial...), out as lhs
    n = lhs.ndim - 2
    spec = (0, n + 1, *range(1, n + 1))
    canonical = jax.lax.ConvDimensionNumbers(spec, (n + 1, n, *range(n)), spec)
    if numbers == canonical:  # (Flax's forward convolutions): as it is
        return primitive.bind(lhs, rhs, **params)
    lhs = jnp.transpose(lhs, (numbers.lhs_spec[0], *numbers.lhs_spec[2:], numbers.lhs_spec[1]))
    rhs = jnp.transpose(rhs, (*numbers.rhs_spec[2:], numbers.rhs_spec[1], numbers.rhs_spec[0]))
    out = primitive.bind(lhs, rhs, **(params | {"dimension_numbers": canonical}))
    order = [0] * out.ndim  # out's axis i comes from the canonical result's axis order[i]
    order[numbers.out_spec[0]], order[numbers.out_spec[1]] = 0, n + 1
    for k, axis in enumerate(numbers.out_spec[2:]):
        order[axis] = 1 + k
    return jnp.transpose(out, order)
