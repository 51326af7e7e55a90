"""`canonical_convolutions`: the same numbers, and on a CPU only canonically laid-out
convolutions in the program, inside loops too."""

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tricks import train
from tricks.metrics import TRAIN_OUTPUTS, Metrics
from tricks.train._calls import Calls

CANONICAL = "b0f_0io->b0f"  # (a 1-D convolution's, as the compiled program writes it)
CASES = {  # name: (input shape, kernel shape, dimension numbers, keyword arguments)
    "1-D, NWC": ((3, 9, 4), (3, 4, 5), ("NWC", "WIO", "NWC"), {}),
    "2-D, NHWC, strided, padded": ((2, 9, 8, 3), (3, 2, 3, 4), ("NHWC", "HWIO", "NHWC"),
                                   {"window_strides": (2, 1), "padding": ((1, 2), (0, 1))}),
    "2-D, NCHW, dilated, grouped": ((2, 4, 9, 9), (6, 2, 3, 3), ("NCHW", "OIHW", "NCHW"),
                                    {"rhs_dilation": (2, 1), "feature_group_count": 2}),
    "2-D, CHWN out, input dilation": ((2, 7, 7, 3), (2, 2, 3, 4), ("NHWC", "HWIO", "CHWN"),
                                      {"lhs_dilation": (2, 2), "padding": ((1, 1), (0, 1))}),
}


def conv(x, w, numbers, options):
    options = {"window_strides": (1,) * (x.ndim - 2), "padding": "SAME"} | options
    return jax.lax.conv_general_dilated(x, w, dimension_numbers=numbers, **options)


def labels(fn, *args) -> set[str]:
    """The dimension numbers of the convolutions in `fn`'s compiled program."""
    text = jax.jit(fn).lower(*args).compile().as_text()
    return set(re.findall(r"dim_labels=(\S+?),", text))


@pytest.mark.parametrize("case", sorted(CASES))
def test_values_and_gradients_are_those_of_the_plain_convolution(case):
    shape_x, shape_w, numbers, options = CASES[case]
    rng = np.random.default_rng(0)
    x, w = (jnp.asarray(rng.normal(size=shape), jnp.float32) for shape in (shape_x, shape_w))

    def loss(x, w):  # a nested jit too: its convolutions are laid out as well
        return jnp.sum(jnp.sin(jax.jit(functools.partial(conv, numbers=numbers, options=options))(x, w)))

    plain = jax.value_and_grad(loss, argnums=(0, 1))
    value, grads = train.canonical_convolutions(plain)(x, w)
    want_value, want_grads = plain(x, w)
    np.testing.assert_allclose(value, want_value, rtol=1e-5, atol=1e-5)
    for got, want in zip(grads, want_grads, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="laid out on a CPU only")
def test_inside_a_loop_every_convolution_is_canonical():
    """XLA:CPU lays out only the convolutions outside loops: the weight gradient JAX
    derives stays as derived inside one, unless laid out first."""
    x, w = jnp.ones((5, 3, 9, 4)), jnp.ones((3, 4, 4))
    numbers = ("NWC", "WIO", "NWC")
    step = lambda w, x: w - 0.01 * jax.grad(lambda w: jnp.sum(conv(x, w, numbers, {}) ** 2))(w)  # noqa: E731

    def looped(step):
        return lambda w, x: jax.lax.fori_loop(0, 5, lambda i, w: step(w, x[i]), w)

    assert labels(looped(step), w, x) - {CANONICAL}  # (as derived: not all canonical)
    assert labels(looped(train.canonical_convolutions(step)), w, x) == {CANONICAL}
    np.testing.assert_allclose(looped(train.canonical_convolutions(step))(w, x), looped(step)(w, x), rtol=1e-5)


def test_pytrees_in_and_out_and_functions_without_convolutions():
    fn = lambda tree, k: {"sum": tree["a"] + tree["b"][0] * k, "pair": (k, tree["b"][1])}  # noqa: E731
    tree = {"a": jnp.ones(3), "b": (jnp.arange(3.0), jnp.int32(7))}
    got = train.canonical_convolutions(fn)(tree, 2.0)
    assert jax.tree.structure(got) == jax.tree.structure(fn(tree, 2.0))
    assert got["sum"].tolist() == [1.0, 3.0, 5.0] and int(got["pair"][1]) == 7


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="laid out on a CPU only")
def test_traced_once_per_argument_types_and_never_with_another_traces_values():
    traces = []

    def fn(x, k):
        traces.append(1)
        return jnp.sin(x) * k

    laid_out = train.canonical_convolutions(fn)
    x = jnp.arange(3.0)
    first = laid_out(x, 2.0)
    jax.eval_shape(laid_out, x, 2.0)  # the same types: the jaxpr kept
    assert jax.jit(laid_out)(x, 2.0).tolist() == first.tolist() and len(traces) == 1
    laid_out(jnp.arange(4.0), 2.0)  # another shape: traced
    laid_out(x.astype(jnp.int32), 2.0)  # another dtype
    laid_out(x, jnp.int32(2))  # a weak type made strong
    laid_out(x, 3.0)  # the first call's types again: kept
    assert len(traces) == 4

    # a function closing over a value of an outer trace is traced afresh in the next trace
    # (its jaxpr holds the first trace's tracer)
    box = {}
    scaled = train.canonical_convolutions(lambda x: x * box["scale"])

    def outer(scale):
        box["scale"] = scale
        return scaled(x)

    for scale in (3.0, 4.0):  # (a new function each time: traced again)
        assert jax.jit(lambda s: outer(s))(scale).tolist() == [0.0, scale, 2 * scale]


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="laid out on a CPU only")
def test_a_training_call_traces_its_step_once():
    """`Calls` traces its step for the summed metrics' shapes, the carry's and the loop
    body: the jaxpr is made once (0.2-0.3 s of the default run's warm start)."""
    cfg = train.default_config()
    run = train.setup(cfg)
    traces = []

    def step(state, batch):
        traces.append(1)
        return run.train_step.step(state, batch)

    calls = Calls(step, run.strategy, run.loader.iterate(0), 0, (run.state, run.loader.batch(0)),
                  Metrics(cfg.train_metrics, TRAIN_OUTPUTS), log_every=20)
    state, _ = calls.run(jax.tree.map(jnp.copy, run.state), 25)
    assert int(state.step) == 25 and len(traces) == 1
