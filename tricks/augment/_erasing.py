"""Random erasing (Zhong et al. 2020), as torchvision's ``RandomErasing`` and timm's."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp

import registry
from tricks.augment._base import Augment, Batch, images, replace


@dataclasses.dataclass(frozen=True)
class RandomErasing(Augment):
    """With `probability`, one rectangle of each example is replaced by `value`.

    The rectangle follows torchvision's ``RandomErasing.get_params``: up to `tries` (10)
    attempts of area ~ U(scale)·H·W and aspect ratio ~ exp U(log ratio), height
    round(√(area·ratio)) and width round(√(area / ratio)); the first attempt with height < H
    and width < W is used, at a top-left corner uniform over the positions that fit; if none
    fits the example is left unchanged. Under jit the attempts are drawn all at once (a fixed
    count) and the first that fits is chosen with a mask and `argmax`, which is the same
    distribution as torchvision's loop.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> aug = RandomErasing(1.0, (0.1, 0.1), (1.0, 1.0), 0.0)
        >>> out = aug({"image": jnp.ones((1, 10, 10, 1)), "label": jnp.ones((1, 1))}, jax.random.key(0), True)
        >>> int((out["image"] == 0).sum())   # a 3×3 square: round(√10)
        9
    """

    probability: float
    scale: tuple[float, float]
    ratio: tuple[float, float]
    value: float | str
    tries: int = 10

    def boxes(self, key: jax.Array, n: int, h: int, w: int) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Each example's (N, 2) top-left corner, (N, 2) height and width, and (N,) whether it is erased.

        Examples:
            >>> import jax
            >>> aug = RandomErasing(0.5, (0.02, 0.33), (0.3, 3.3), 0.0)
            >>> corner, box, erased = aug.boxes(jax.random.key(0), 4, 28, 28)
            >>> corner.shape, box.shape, erased.shape
            ((4, 2), (4, 2), (4,))
        """
        k_apply, k_area, k_ratio, k_pos = jax.random.split(key, 4)
        area = jax.random.uniform(k_area, (n, self.tries), minval=self.scale[0], maxval=self.scale[1]) * h * w
        log_ratio = jax.random.uniform(k_ratio, (n, self.tries), minval=math.log(self.ratio[0]),
                                       maxval=math.log(self.ratio[1]))
        aspect = jnp.exp(log_ratio)
        bh = jnp.round(jnp.sqrt(area * aspect)).astype(jnp.int32)
        bw = jnp.round(jnp.sqrt(area / aspect)).astype(jnp.int32)
        fits = (bh < h) & (bw < w)
        first = jnp.argmax(fits, axis=1)[:, None]
        box = jnp.concatenate([jnp.take_along_axis(bh, first, 1), jnp.take_along_axis(bw, first, 1)], axis=1)
        room = jnp.array([h, w]) - box + 1
        corner = jnp.floor(jax.random.uniform(k_pos, (n, 2)) * room).astype(jnp.int32)
        erased = jax.random.bernoulli(k_apply, self.probability, (n,)) & fits.any(axis=1)
        return corner, box, erased

    def apply(self, batch: Batch, key: jax.Array) -> Batch:
        x = images(batch, "random_erasing")
        n, h, w, c = x.shape
        k_box, k_value = jax.random.split(key)
        corner, box, erased = self.boxes(k_box, n, h, w)
        rows = jnp.arange(h) - corner[:, :1]
        cols = jnp.arange(w) - corner[:, 1:]
        inside = ((rows >= 0) & (rows < box[:, :1]))[:, :, None] & ((cols >= 0) & (cols < box[:, 1:]))[:, None, :]
        inside = inside & erased[:, None, None]
        if self.value == "random":
            fill = jax.random.normal(k_value, x.shape, x.dtype)
        elif self.value == "channel":
            fill = jax.random.normal(k_value, (n, 1, 1, c), x.dtype)
        else:
            fill = jnp.asarray(self.value, x.dtype)
        return replace(batch, image=jnp.where(inside[..., None], fill, x))


@registry.register("augment")
def random_erasing(
    probability: float = 0.5,
    scale: Sequence[float] = (0.02, 0.33),
    ratio: Sequence[float] = (0.3, 3.3),
    value: float | str = 0.0,
) -> RandomErasing:
    """Random erasing: with `probability`, one random rectangle per example is overwritten.

    The rectangle covers a fraction ~ U(scale) of the image, with height / width ~ log-U(ratio)
    (torchvision's ``RandomErasing``; 10 attempts, drawn at once, the first that fits wins,
    none fitting leaves the example as it was). `value` sets what is written, as timm's modes:

    | value | writes | timm mode | torchvision |
    |---|---|---|---|
    | a number (default 0) | that constant | ``const`` (0) | ``value=v`` |
    | ``"channel"`` | one N(0, 1) draw per channel | ``rand`` | — |
    | ``"random"`` | one N(0, 1) draw per pixel | ``pixel`` | ``value="random"`` |

    Normal draws (and 0 as "the mean") suit standardized images: put it after `normalize`,
    as timm and torchvision do. Images must be (N, H, W, C); 1-D signals raise a ValueError
    naming their shape when traced.

    Args:
        probability: chance that an example is erased.
        scale: range of the rectangle's area as a fraction of the image, within (0, 1].
        ratio: range of the rectangle's height / width.
        value: a number, ``"random"`` or ``"channel"``.

    Examples:
        >>> random_erasing(value="random")
        RandomErasing(probability=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value='random', tries=10)
    """
    if not 0 <= probability <= 1:
        raise registry.RegistryError(f"must be in [0, 1], got {probability}", argument="probability")
    scale, ratio = tuple(float(s) for s in scale), tuple(float(r) for r in ratio)
    if len(scale) != 2 or not 0 < scale[0] <= scale[1] <= 1:
        raise registry.RegistryError(f"must be (low, high) with 0 < low <= high <= 1, got {scale}", argument="scale")
    if len(ratio) != 2 or not 0 < ratio[0] <= ratio[1]:
        raise registry.RegistryError(f"must be (low, high) with 0 < low <= high, got {ratio}", argument="ratio")
    if isinstance(value, str):
        if value not in ("random", "channel"):
            raise registry.RegistryError(f"must be a number, 'random' or 'channel', got {value!r}", argument="value")
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise registry.RegistryError(f"must be a number, 'random' or 'channel', got {value!r}", argument="value")
    else:
        value = float(value)
    return RandomErasing(float(probability), scale, ratio, value)
