"""Pixel-value augmentations: normalize, brightness, contrast, saturation.

Colour jitter changes raw pixel values, so it belongs before `normalize` in a list. Values
are not clipped (inputs may already be standardized). Each example draws its own factor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp

import registry
from tricks.augment._base import Augment, Batch, images, replace

_LUMA = (0.299, 0.587, 0.114)
"""ITU-R 601-2 luma weights, as PIL and torchvision compute grayscale."""


def _range(lower: float, upper: float) -> tuple[float, float]:
    if not 0 <= lower <= upper:
        raise registry.RegistryError(
            f"needs 0 <= lower <= upper, got lower={lower}, upper={upper}", argument="lower"
        )
    return float(lower), float(upper)


def _factors(key: jax.Array, n: int, lower: float, upper: float) -> jax.Array:
    return jax.random.uniform(key, (n,), jnp.float32, lower, upper).reshape(n, 1, 1, 1)


@dataclasses.dataclass(frozen=True)
class Normalize(Augment):
    """(x − mean) / std over the last axis, in training and at evaluation alike.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> batch = {"image": jnp.ones((1, 2, 2, 3)), "label": jnp.ones((1, 2))}
        >>> aug = Normalize((0.5, 0.0, 1.0), (0.5, 1.0, 1.0))
        >>> aug(batch, jax.random.key(0), train=False)["image"][0, 0, 0]
        Array([1., 1., 0.], dtype=float32)
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def apply(self, batch: Batch, key: jax.Array) -> Batch:
        return self.evaluate(batch)

    def evaluate(self, batch: Batch) -> Batch:
        x = batch["image"]
        mean, std = jnp.asarray(self.mean, x.dtype), jnp.asarray(self.std, x.dtype)
        if mean.size > 1 and x.shape[-1] != mean.size:
            raise ValueError(
                f"normalize has {mean.size} channel means, but images have {x.shape[-1]} channels"
            )
        return replace(batch, image=(x - mean) / std)


@registry.register("augment")
def normalize(mean: float | Sequence[float] = 0.0, std: float | Sequence[float] = 1.0) -> Normalize:
    """Standardize inputs: (x − mean) / std, per channel when lists are given (train and eval).

    Works on any input rank (images or 1-D signals); per-channel lists apply to the last axis.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> aug = normalize(mean=0.5, std=0.5)
        >>> batch = {"image": jnp.array([[0.0, 1.0]]), "label": jnp.ones((1, 1))}
        >>> aug(batch, jax.random.key(0), train=True)["image"]
        Array([[-1.,  1.]], dtype=float32)
    """
    mean = (float(mean),) if isinstance(mean, (int, float)) else tuple(float(m) for m in mean)
    std = (float(std),) if isinstance(std, (int, float)) else tuple(float(s) for s in std)
    if not std or min(std) <= 0:
        raise registry.RegistryError(f"must be > 0, got {list(std)}", argument="std")
    if len(mean) != len(std) and 1 not in (len(mean), len(std)):
        raise registry.RegistryError(f"mean has {len(mean)} values and std {len(std)}", argument="std")
    return Normalize(mean, std)


@dataclasses.dataclass(frozen=True)
class Brightness(Augment):
    """Adds δ ~ U(−max_delta, max_delta) to every pixel of an example (as tf.image does).

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> batch = {"image": jnp.zeros((3, 2, 2, 1)), "label": jnp.eye(3)}
        >>> out = Brightness(0.1)(batch, jax.random.key(0), True)
        >>> bool(abs(out["image"]).max() <= 0.1)
        True
    """

    max_delta: float

    def apply(self, batch: Batch, key: jax.Array) -> Batch:
        x = images(batch, "brightness")
        return replace(batch, image=x + _factors(key, x.shape[0], -self.max_delta, self.max_delta))


@registry.register("augment")
def brightness(max_delta: float = 0.2) -> Brightness:
    """Random brightness: each example is shifted by its own δ ~ U(−max_delta, max_delta).

    Examples:
        >>> brightness(0.3)
        Brightness(max_delta=0.3)
    """
    if max_delta < 0:
        raise registry.RegistryError(f"must be >= 0, got {max_delta}", argument="max_delta")
    return Brightness(float(max_delta))


@dataclasses.dataclass(frozen=True)
class Contrast(Augment):
    """Scales each channel's deviation from its spatial mean by f ~ U(lower, upper) (as tf.image does).

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> x = jnp.array([0.0, 1.0]).reshape(1, 1, 2, 1)
        >>> batch = {"image": x, "label": jnp.ones((1, 1))}
        >>> Contrast(2.0, 2.0)(batch, jax.random.key(0), True)["image"].ravel()
        Array([-0.5,  1.5], dtype=float32)
    """

    lower: float
    upper: float

    def apply(self, batch: Batch, key: jax.Array) -> Batch:
        x = images(batch, "contrast")
        mean = x.mean(axis=(1, 2), keepdims=True)
        return replace(batch, image=mean + _factors(key, x.shape[0], self.lower, self.upper) * (x - mean))


@registry.register("augment")
def contrast(lower: float = 0.8, upper: float = 1.2) -> Contrast:
    """Random contrast: (x − m)·f + m per example, m the per-channel mean, f ~ U(lower, upper).

    Examples:
        >>> contrast(0.5, 1.5)
        Contrast(lower=0.5, upper=1.5)
    """
    return Contrast(*_range(lower, upper))


@dataclasses.dataclass(frozen=True)
class Saturation(Augment):
    """Blends each RGB example with its grayscale version: g + f·(x − g), f ~ U(lower, upper).

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> x = jnp.array([1.0, 0.0, 0.0]).reshape(1, 1, 1, 3)
        >>> batch = {"image": x, "label": jnp.ones((1, 1))}
        >>> Saturation(0.0, 0.0)(batch, jax.random.key(0), True)["image"].ravel()
        Array([0.299, 0.299, 0.299], dtype=float32)
    """

    lower: float
    upper: float

    def apply(self, batch: Batch, key: jax.Array) -> Batch:
        x = images(batch, "saturation")
        if x.shape[-1] != 3:
            raise ValueError(
                f"saturation needs RGB images (3 channels), got {x.shape[-1]}; remove it for grayscale data"
            )
        gray = (x @ jnp.asarray(_LUMA, x.dtype))[..., None]
        return replace(batch, image=gray + _factors(key, x.shape[0], self.lower, self.upper) * (x - gray))


@registry.register("augment")
def saturation(lower: float = 0.8, upper: float = 1.2) -> Saturation:
    """Random saturation: blend with grayscale by f ~ U(lower, upper) per example (RGB only).

    0 gives grayscale, 1 the image itself. A batch that is not RGB raises a ValueError when
    traced: saturation means nothing for grayscale data, so a config asking for it is a
    mistake rather than something to ignore silently.

    Examples:
        >>> saturation(0.0, 2.0)
        Saturation(lower=0.0, upper=2.0)
    """
    return Saturation(*_range(lower, upper))
