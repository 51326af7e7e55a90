"""Pieces shared by the models: activations by name, initializer resolution, pooling, input checks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated

import flax.linen as nn
import jax
import jax.numpy as jnp

import registry

InitLike = Annotated[str | Callable, registry.Kind("init")]
"""An initializer, or an `init` spec (built through the registry)."""

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": nn.relu,
    "tanh": jnp.tanh,
    "sigmoid": nn.sigmoid,
    "gelu": nn.gelu,
    "silu": nn.silu,
    "elu": nn.elu,
    "selu": nn.selu,
    "leaky_relu": nn.leaky_relu,
    "softplus": nn.softplus,
    "identity": lambda x: x,
}
"""The activation names every model accepts."""


def activation(name: str) -> Callable[[jax.Array], jax.Array]:
    """The activation function called `name`, or a registry error listing the valid ones.

    Examples:
        >>> float(activation("relu")(-1.0))
        0.0
    """
    if name not in ACTIVATIONS:
        raise registry.RegistryError(
            f"unknown activation {name!r}{registry.suggest(name, ACTIVATIONS)}; "
            f"valid: {', '.join(sorted(ACTIVATIONS))}",
            argument="activation",
        )
    return ACTIVATIONS[name]


DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
"""The compute dtypes every model accepts (``dtype``); parameters stay float32 in both."""


def compute_dtype(name: str) -> jnp.dtype:
    """The compute dtype called `name`: convolutions, matmuls and activations run in it,
    while parameters, batch-norm statistics and the head's logits stay float32.

    Examples:
        >>> compute_dtype("bfloat16")
        <class 'jax.numpy.bfloat16'>
        >>> compute_dtype("float16")
        Traceback (most recent call last):
        ...
        registry._errors.RegistryError: argument 'dtype': must be one of float32, bfloat16, got 'float16'
    """
    if name not in DTYPES:
        raise registry.RegistryError(f"must be one of {', '.join(DTYPES)}, got {name!r}", argument="dtype")
    return DTYPES[name]


def resolve_init(init: str | Callable) -> Callable:
    """An initializer from a spec string (built through the registry) or a callable.

    Examples:
        >>> import tricks
        >>> resolve_init("orthogonal(gain=2.0)")
        orthogonal(gain=2.0)
    """
    if isinstance(init, str):
        return registry.build("init", init)
    if not callable(init):
        raise registry.RegistryError(f"expected an init spec or a callable, got {init!r}", argument="init")
    return init


def positive_int(value: int, argument: str) -> int:
    """`value`, checked to be a positive integer.

    Examples:
        >>> positive_int(0, "num_classes")
        Traceback (most recent call last):
        ...
        registry._errors.RegistryError: argument 'num_classes': must be a positive integer, got 0
    """
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise registry.RegistryError(f"must be a positive integer, got {value!r}", argument=argument)
    return value


def positive_ints(values: Sequence[int], argument: str, allow_empty: bool = True) -> tuple[int, ...]:
    """`values` as a tuple, checked to hold positive integers only.

    Examples:
        >>> positive_ints([32, 64], "channels")
        (32, 64)
    """
    values = tuple(values)
    if not allow_empty and not values:
        raise registry.RegistryError("must not be empty", argument=argument)
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise registry.RegistryError(f"must hold positive integers, got {values}", argument=argument)
    return values


def rate(value: float, argument: str) -> float:
    """A dropout rate, checked to lie in [0, 1).

    Examples:
        >>> rate(1.0, "dropout")
        Traceback (most recent call last):
        ...
        registry._errors.RegistryError: argument 'dropout': must be in [0, 1), got 1.0
    """
    if not 0.0 <= value < 1.0:
        raise registry.RegistryError(f"must be in [0, 1), got {value}", argument=argument)
    return float(value)


def per_block(value: float | Sequence[float], count: int, argument: str) -> tuple[float, ...]:
    """A dropout rate per block: one rate repeated, or a list of exactly `count` rates.

    Examples:
        >>> per_block(0.1, 3, "conv_dropout"), per_block([0.0, 0.2], 2, "conv_dropout")
        ((0.1, 0.1, 0.1), (0.0, 0.2))
    """
    if isinstance(value, (int, float)):
        return (rate(value, argument),) * count
    values = tuple(value)
    if len(values) != count:
        raise registry.RegistryError(
            f"needs one rate per block ({count}), got {len(values)}", argument=argument
        )
    return tuple(rate(v, argument) for v in values)


def pool2x2(x: jax.Array, kind: str) -> jax.Array:
    """2×2 pooling with stride 2 over (N, H, W, C), written as reshape + reduce.

    An odd trailing row or column is dropped, as 'VALID' pooling does. This form is used
    because its backward pass is much cheaper on CPU than `flax.linen.max_pool`'s
    (`reduce_window`); `tricks.models` records the measurement.

    Examples:
        >>> import jax.numpy as jnp
        >>> x = jnp.arange(16.0).reshape(1, 4, 4, 1)
        >>> pool2x2(x, "max")[0, :, :, 0]
        Array([[ 5.,  7.],
               [13., 15.]], dtype=float32)
    """
    n, h, w, c = x.shape
    x = x[:, : h // 2 * 2, : w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, c)
    return x.max(axis=(2, 4)) if kind == "max" else x.mean(axis=(2, 4))


class Dropout(nn.Module):
    """Inverted dropout drawing its mask as a flat vector (same distribution as `flax.linen.Dropout`).

    Why not `flax.linen.Dropout`: with JAX's default partitionable Threefry, compiling a
    random draw of a rank-4 shape is several times slower on CPU than a flat draw of the
    same size. Measured on the 2-core machine of issue 5 (heavily shared, load ~9): the
    jitted train step of a two-conv CNN with dropout after each block and the dense layer
    (batch 128×28×28×1) compiled in 9.4–14.1 s with `flax.linen.Dropout` and 5.0–7.4 s
    with this one; the step itself took the same time (317–364 ms at that load).
    The mask uses the ``dropout`` RNG stream, like Flax's.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> y = Dropout(0.5).apply({}, jnp.ones((2, 4, 4, 3)), False, rngs={"dropout": jax.random.key(0)})
        >>> sorted(set(y.ravel().tolist()))
        [0.0, 2.0]
    """

    rate: float

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool) -> jax.Array:
        if deterministic or self.rate == 0:
            return x
        keep = jax.random.bernoulli(self.make_rng("dropout"), 1.0 - self.rate, (x.size,)).reshape(x.shape)
        return jnp.where(keep, x / (1.0 - self.rate), jnp.zeros((), x.dtype))


def image_input(x: jax.Array, model: str) -> jax.Array:
    """(N, H, W, C) images; (N, H, W) gets a channel axis. Other ranks raise a clear error.

    Examples:
        >>> import jax.numpy as jnp
        >>> image_input(jnp.zeros((2, 8, 8)), "cnn").shape
        (2, 8, 8, 1)
    """
    if x.ndim == 3:
        return x[..., None]
    if x.ndim != 4:
        raise ValueError(f"{model} expects images of shape (N, H, W, C) or (N, H, W), got shape {x.shape}")
    return x
