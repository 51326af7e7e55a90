"""Named weight initializers (SPEC §4), each a Flax-compatible ``(key, shape, dtype) -> array``.

Fans follow Flax and torch: for a dense kernel of shape ``(n_in, n_out)`` the fans are
``n_in`` and ``n_out``; for a convolution kernel ``(*window, c_in, c_out)`` they are
``receptive field × c_in`` and ``receptive field × c_out`` (the receptive field is the
product of the window sizes). Initializers are meant for kernels (two or more axes);
biases stay at zero in every model of `tricks.models`.

| name | distribution |
|---|---|
| xavier_uniform(gain) | U(±gain·√(6/(n_in+n_out))) (Glorot & Bengio; for tanh, sigmoid) |
| xavier_normal(gain) | N(0, gain²·2/(n_in+n_out)) |
| kaiming_uniform(mode) | U(±√(6/n)), n = n_in (default) or n_out (He et al.; for ReLU) |
| kaiming_normal(mode) | N(0, 2/n) |
| lecun_uniform | U(±√(3/n_in)) |
| lecun_normal | N(0, 1/n_in) |
| orthogonal(gain) | gain × a random orthogonal matrix (Saxe et al., arXiv 1312.6120) |
| normal(stddev) | N(0, stddev²) |
| zeros | 0 |

Convention where libraries disagree: the normal initializers draw from a plain normal
(torch's convention); ``truncated=True`` selects Keras' and Flax's truncated normal
(cut at ±2σ and rescaled so that the standard deviation is still the one above).
Orthogonal flattens every axis but the last (for a convolution kernel: the window and the
input channels) into rows; the columns (output features) are orthonormal when there are at
least as many rows as columns, otherwise the rows are.

Examples:
    >>> import jax, registry, tricks
    >>> init = registry.build("init", "kaiming_normal")
    >>> w = init(jax.random.key(0), (1000, 500))
    >>> w.shape, w.dtype, round(float(w.std()), 3)   # √(2/1000) ≈ 0.0447
    ((1000, 500), dtype('float32'), 0.045)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp

import registry

__all__ = [
    "Initializer",
    "fans",
    "kaiming_normal",
    "kaiming_uniform",
    "lecun_normal",
    "lecun_uniform",
    "normal",
    "orthogonal",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
]


class Initializer:
    """A named initializer: ``init(key, shape, dtype=jnp.float32) -> array``.

    Its ``repr`` is the spec that built it, so logs and model summaries say which
    initializer a layer used.

    Examples:
        >>> import jax
        >>> init = xavier_uniform(gain=2.0)
        >>> init
        xavier_uniform(gain=2.0)
        >>> init(jax.random.key(0), (3, 4)).shape
        (3, 4)
    """

    def __init__(self, spec: str, fn: Callable[..., jax.Array]):
        self.spec = spec
        self._fn = fn

    def __call__(self, key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
        return self._fn(key, tuple(shape), dtype)

    def __repr__(self) -> str:
        return self.spec


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a dense or convolution kernel, as Flax and torch count them.

    Examples:
        >>> fans((784, 100)), fans((3, 3, 16, 32))
        ((784, 100), (144, 288))
    """
    if len(shape) < 2:
        raise ValueError(f"fans are defined for kernels with at least 2 axes, got shape {tuple(shape)}")
    receptive = math.prod(shape[:-2])
    return receptive * shape[-2], receptive * shape[-1]


def _positive(value: float, argument: str) -> None:
    if not value > 0:
        raise registry.RegistryError(f"must be > 0, got {value}", argument=argument)


_TRUNCATED_STD = 0.87962566103423978
"""Standard deviation of a unit normal truncated to [-2, 2]."""


def _draw(key: jax.Array, shape: tuple[int, ...], dtype: Any, distribution: str, std: float) -> jax.Array:
    """Samples of standard deviation `std`, drawn as a flat vector and reshaped to `shape`.

    Measured on the 2-core CPU machine of issue 5: with JAX's default partitionable
    Threefry, compiling a random draw of a rank-4 shape such as a (3, 3, 8, 16) conv kernel
    takes 5-14 s, a flat draw of the same size under 1 s. The distribution is the same.
    """
    flat = (math.prod(shape),)
    if distribution == "uniform":
        limit = math.sqrt(3.0) * std
        sample = jax.random.uniform(key, flat, dtype, -limit, limit)
    elif distribution == "normal":
        sample = std * jax.random.normal(key, flat, dtype)
    else:
        sample = std / _TRUNCATED_STD * jax.random.truncated_normal(key, -2.0, 2.0, flat, dtype)
    return sample.reshape(shape)


def _scaled(spec: str, scale: float, mode: str, distribution: str) -> Initializer:
    """Variance scaling (as `jax.nn.initializers.variance_scaling`): variance scale / n."""

    def init(key: jax.Array, shape: tuple[int, ...], dtype: Any) -> jax.Array:
        fan_in, fan_out = fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
        return _draw(key, shape, dtype, distribution, math.sqrt(scale / n))

    return Initializer(spec, init)


def _normal_kind(truncated: bool) -> str:
    return "truncated_normal" if truncated else "normal"


def _mode(mode: str) -> str:
    if mode not in ("fan_in", "fan_out"):
        raise registry.RegistryError(f"must be 'fan_in' or 'fan_out', got {mode!r}", argument="mode")
    return mode


@registry.register("init")
def xavier_uniform(gain: float = 1.0) -> Initializer:
    """Glorot/Xavier uniform: U(±gain·√(6/(fan_in+fan_out))), for tanh and sigmoid layers.

    Examples:
        >>> import jax
        >>> w = xavier_uniform()(jax.random.key(0), (300, 100))
        >>> bool(abs(w).max() <= (6 / 400) ** 0.5)
        True
    """
    _positive(gain, "gain")
    return _scaled(f"xavier_uniform(gain={gain})", gain**2, "fan_avg", "uniform")


@registry.register("init")
def xavier_normal(gain: float = 1.0, truncated: bool = False) -> Initializer:
    """Glorot/Xavier normal: std gain·√(2/(fan_in+fan_out)).

    Examples:
        >>> import jax
        >>> w = xavier_normal()(jax.random.key(0), (600, 200))
        >>> round(float(w.std()), 3)   # √(2/800) = 0.05
        0.05
    """
    _positive(gain, "gain")
    return _scaled(
        f"xavier_normal(gain={gain}, truncated={truncated})", gain**2, "fan_avg", _normal_kind(truncated)
    )


@registry.register("init")
def kaiming_uniform(mode: Literal["fan_in", "fan_out"] = "fan_in") -> Initializer:
    """He/Kaiming uniform: U(±√(6/n)), n = fan_in (or fan_out), for ReLU layers.

    Examples:
        >>> import jax
        >>> w = kaiming_uniform()(jax.random.key(0), (3, 3, 8, 16))   # fan_in = 72
        >>> bool(abs(w).max() <= (6 / 72) ** 0.5)
        True
    """
    return _scaled(f"kaiming_uniform(mode={mode!r})", 2.0, _mode(mode), "uniform")


@registry.register("init")
def kaiming_normal(mode: Literal["fan_in", "fan_out"] = "fan_in", truncated: bool = False) -> Initializer:
    """He/Kaiming normal: std √(2/n), n = fan_in (or fan_out), for ReLU layers.

    Examples:
        >>> import jax
        >>> w = kaiming_normal(mode="fan_out")(jax.random.key(0), (100, 800))
        >>> round(float(w.std()), 3)   # √(2/800) = 0.05
        0.05
    """
    return _scaled(
        f"kaiming_normal(mode={mode!r}, truncated={truncated})", 2.0, _mode(mode), _normal_kind(truncated)
    )


@registry.register("init")
def lecun_uniform() -> Initializer:
    """LeCun uniform: U(±√(3/fan_in)) (variance 1/fan_in), for SELU and linear layers.

    Examples:
        >>> import jax
        >>> w = lecun_uniform()(jax.random.key(0), (300, 100))
        >>> bool(abs(w).max() <= 0.1)   # √(3/300)
        True
    """
    return _scaled("lecun_uniform()", 1.0, "fan_in", "uniform")


@registry.register("init")
def lecun_normal(truncated: bool = False) -> Initializer:
    """LeCun normal: std √(1/fan_in).

    Examples:
        >>> import jax
        >>> w = lecun_normal(truncated=True)(jax.random.key(0), (400, 300))
        >>> round(float(w.std()), 3)   # √(1/400) = 0.05
        0.05
    """
    return _scaled(f"lecun_normal(truncated={truncated})", 1.0, "fan_in", _normal_kind(truncated))


@registry.register("init")
def orthogonal(gain: float = 1.0) -> Initializer:
    """gain × a random orthogonal matrix (Saxe et al.); kernels are flattened to (rows, out).

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> w = orthogonal()(jax.random.key(0), (3, 3, 4, 16)).reshape(-1, 16)   # 36 × 16
        >>> bool(jnp.allclose(w.T @ w, jnp.eye(16), atol=1e-5))
        True
    """
    _positive(gain, "gain")
    base = jax.nn.initializers.orthogonal(scale=gain, column_axis=-1)
    # QR runs in float32 (LAPACK has no bfloat16), then the result is cast.
    return Initializer(
        f"orthogonal(gain={gain})", lambda key, shape, dtype: base(key, shape, jnp.float32).astype(dtype)
    )


@registry.register("init")
def normal(stddev: float = 0.01) -> Initializer:
    """N(0, stddev²), whatever the shape (the fixed-scale init of early convnets).

    Examples:
        >>> import jax
        >>> round(float(normal(0.1)(jax.random.key(0), (500, 500)).std()), 3)
        0.1
    """
    _positive(stddev, "stddev")

    return Initializer(
        f"normal(stddev={stddev})", lambda key, shape, dtype: _draw(key, shape, dtype, "normal", stddev)
    )


@registry.register("init")
def zeros() -> Initializer:
    """All zeros (for a head or a last residual layer; hidden layers then never break symmetry).

    Examples:
        >>> import jax
        >>> float(abs(zeros()(jax.random.key(0), (4, 4))).max())
        0.0
    """
    return Initializer("zeros()", lambda key, shape, dtype: jnp.zeros(shape, dtype))
