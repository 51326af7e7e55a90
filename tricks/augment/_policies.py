"""Search-free augmentation policies: RandAugment (Cubuk et al. 2020) and TrivialAugment
(Müller & Hutter 2021), as torchvision's ``RandAugment`` and ``TrivialAugmentWide``.

Each example draws its own ops, magnitudes and signs; the op is a traced index into
`lax.switch` over the 14 ops of `tricks.augment._ops` (under `vmap` every branch runs and
the chosen one is selected), in two switches: the affine map of the geometric ops, applied
by one gather, then the pixel-value op (`apply_switched`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp

import registry
from tricks.augment._base import Augment, Batch, images, replace
from tricks.augment._ops import OPS, SIGNED, apply_switched, check_value_range, magnitude_table

_TABLE_DOC = """
    | op | RandAugment magnitude (bins 0..B−1) | TrivialAugment magnitude | effect |
    |---|---|---|---|
    | Identity | — | — | none |
    | ShearX, ShearY | ±0 … 0.3 | ±0 … 0.99 | out(x, y) = in(x + m·y, y) (resp. in(x, y + m·x)) |
    | TranslateX, TranslateY | ±0 … 150/331 of the width (height) px | ±0 … 32 px | shift by int(m) pixels |
    | Rotate | ±0 … 30° | ±0 … 135° | counter-clockwise about the center |
    | Brightness | ±0 … 0.9 | ±0 … 0.99 | blend with black by 1 + m |
    | Color | ±0 … 0.9 | ±0 … 0.99 | blend with grayscale by 1 + m (identity on 1-channel images) |
    | Contrast | ±0 … 0.9 | ±0 … 0.99 | blend with the gray mean by 1 + m |
    | Sharpness | ±0 … 0.9 | ±0 … 0.99 | blend with a 3×3 smoothing by 1 + m |
    | Posterize | 8 … 4 bits | 8 … 2 bits | keep the high bits of 8-bit levels |
    | Solarize | 255 … 0 | 255 … 0 | invert values >= threshold (0..255 scale) |
    | AutoContrast | — | — | stretch each channel to the value range |
    | Equalize | — | — | histogram equalization of each channel |
"""


def _signed(key: jax.Array, op: jax.Array, magnitude: jax.Array) -> jax.Array:
    signed = jnp.asarray([name in SIGNED for name in OPS])[op]
    flip = jax.random.bernoulli(key) & signed
    return jnp.where(flip, -magnitude, magnitude)


@dataclasses.dataclass(frozen=True)
class _Policy(Augment):
    value_range: tuple[float, float]

    name = "policy"

    def draw(self, key: jax.Array, table: jax.Array) -> tuple[list[jax.Array], list[jax.Array]]:
        """The op indices and signed magnitudes one example applies in order."""
        raise NotImplementedError

    def apply(self, batch: Batch, key: jax.Array) -> Batch:
        x = images(batch, self.name)
        n, h, w, _ = x.shape
        if min(h, w) < 3:
            raise ValueError(f"{self.name} needs images of at least 3×3 pixels, got {tuple(x.shape)}")
        table = jnp.asarray(magnitude_table(self.name, self.num_magnitude_bins, h, w), jnp.float32)

        def one(image: jax.Array, k: jax.Array) -> jax.Array:
            for op, magnitude in zip(*self.draw(k, table), strict=True):
                image = apply_switched(image, op, magnitude, self.value_range)
            return image

        return replace(batch, image=jax.vmap(one)(x, jax.random.split(key, n)))


@dataclasses.dataclass(frozen=True)
class RandAugment(_Policy):
    """`num_ops` ops drawn uniformly with replacement, all at bin `magnitude`, each with a random sign.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> batch = {"image": jnp.full((4, 8, 8, 1), 0.5), "label": jnp.eye(4)}
        >>> out = jax.jit(lambda b, k: RandAugment((0.0, 1.0), 2, 9, 31)(b, k, True))(batch, jax.random.key(0))
        >>> out["image"].shape, bool((out["image"] >= 0).all() & (out["image"] <= 1).all())
        ((4, 8, 8, 1), True)
    """

    num_ops: int = 2
    magnitude: int = 9
    num_magnitude_bins: int = 31

    name = "randaugment"

    def draw(self, key: jax.Array, table: jax.Array) -> tuple[list[jax.Array], list[jax.Array]]:
        k_op, k_sign = jax.random.split(key)
        ops = jax.random.randint(k_op, (self.num_ops,), 0, len(OPS))
        signs = jax.random.split(k_sign, self.num_ops)
        return list(ops), [_signed(s, op, table[op, self.magnitude]) for s, op in zip(signs, ops, strict=True)]


@dataclasses.dataclass(frozen=True)
class TrivialAugment(_Policy):
    """One op drawn uniformly, at a uniformly drawn bin, with a random sign.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> batch = {"image": jnp.full((4, 8, 8, 3), 0.5), "label": jnp.eye(4)}
        >>> jax.jit(lambda b, k: TrivialAugment((0.0, 1.0), 31)(b, k, True))(batch, jax.random.key(0))["image"].shape
        (4, 8, 8, 3)
    """

    num_magnitude_bins: int = 31

    name = "trivial_augment"

    def draw(self, key: jax.Array, table: jax.Array) -> tuple[list[jax.Array], list[jax.Array]]:
        k_op, k_bin, k_sign = jax.random.split(key, 3)
        op = jax.random.randint(k_op, (), 0, len(OPS))
        magnitude = table[op, jax.random.randint(k_bin, (), 0, self.num_magnitude_bins)]
        return [op], [_signed(k_sign, op, magnitude)]


def _check(value_range: Sequence[float], num_magnitude_bins: int) -> tuple[float, float]:
    if isinstance(num_magnitude_bins, bool) or not isinstance(num_magnitude_bins, int) or num_magnitude_bins < 2:
        raise registry.RegistryError(f"must be an integer >= 2, got {num_magnitude_bins!r}",
                                     argument="num_magnitude_bins")
    try:
        return check_value_range(value_range)
    except ValueError as err:
        raise registry.RegistryError(str(err), argument="value_range") from None


@registry.register("augment")
def randaugment(num_ops: int = 2, magnitude: int = 9, num_magnitude_bins: int = 31,
                value_range: Sequence[float] = (0.0, 1.0)) -> RandAugment:
    """RandAugment: `num_ops` random ops per example, at one shared magnitude bin (torchvision's).

    Each example draws `num_ops` ops uniformly (with replacement) from the 14 below, each at
    bin `magnitude` of `num_magnitude_bins` equally spaced magnitudes over the op's range,
    negated with probability 1/2 for the signed ops (± below), exactly as torchvision's
    ``RandAugment``; ops are described in `tricks.augment._ops`.
    {table}
    Value range: images must hold raw pixel values in `value_range` (default (0, 1), what the
    datasets here give: put `randaugment` before `normalize`). Enhance ops clip to it, Solarize's
    threshold and Posterize's and Equalize's 8-bit levels are taken on it, and geometric ops
    fill with its low end (black). Images must be (N, H, W, C) with H, W >= 3; 1-D signals
    (e.g. MNIST-1D) raise a ValueError naming their shape when traced. On grayscale images
    Color (saturation) is the identity.

    Args:
        num_ops: ops applied in sequence to each example.
        magnitude: the bin index, 0 .. num_magnitude_bins − 1.
        num_magnitude_bins: number of magnitude bins (>= 2).
        value_range: (low, high) of the images' values.

    Examples:
        >>> randaugment(num_ops=2, magnitude=9)
        RandAugment(value_range=(0.0, 1.0), num_ops=2, magnitude=9, num_magnitude_bins=31)
    """
    value_range = _check(value_range, num_magnitude_bins)
    if isinstance(num_ops, bool) or not isinstance(num_ops, int) or num_ops < 0:
        raise registry.RegistryError(f"must be an integer >= 0, got {num_ops!r}", argument="num_ops")
    if isinstance(magnitude, bool) or not isinstance(magnitude, int) or not 0 <= magnitude < num_magnitude_bins:
        raise registry.RegistryError(f"must be an integer in [0, {num_magnitude_bins}), got {magnitude!r}",
                                     argument="magnitude")
    return RandAugment(value_range, num_ops, magnitude, num_magnitude_bins)


@registry.register("augment")
def trivial_augment(num_magnitude_bins: int = 31, value_range: Sequence[float] = (0.0, 1.0)) -> TrivialAugment:
    """TrivialAugment (wide): one random op per example at a random magnitude bin (torchvision's).

    Each example draws one op uniformly from the 14 below and one bin uniformly from
    `num_magnitude_bins`, negated with probability 1/2 for the signed ops, exactly as
    torchvision's ``TrivialAugmentWide`` (its wide ranges); ops as for `randaugment`.
    {table}
    Value range, image shape and grayscale: as `randaugment`. Note that the translation range
    is in pixels (up to 32, as torchvision's), which can move a 28×28 image out entirely.

    Args:
        num_magnitude_bins: number of magnitude bins (>= 2).
        value_range: (low, high) of the images' values.

    Examples:
        >>> trivial_augment()
        TrivialAugment(value_range=(0.0, 1.0), num_magnitude_bins=31)
    """
    return TrivialAugment(_check(value_range, num_magnitude_bins), num_magnitude_bins)


randaugment.__doc__ = randaugment.__doc__.replace("{table}", _TABLE_DOC)
trivial_augment.__doc__ = trivial_augment.__doc__.replace("{table}", _TABLE_DOC)
