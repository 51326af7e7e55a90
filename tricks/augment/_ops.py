"""The image operations of RandAugment and TrivialAugment, one image at a time, in JAX.

Each op maps one image (H, W, C) and a scalar magnitude (a traced value) to an image of the
same shape, following torchvision's ``transforms/autoaugment.py`` (``_apply_op``) and the
functional ops it calls. Images are float in ``value_range = (lo, hi)`` (``(0, 1)`` for the
datasets here, scaled by 1/255 or 1/16); torchvision's uint8 ops become:

- geometric ops (nearest neighbour, as torchvision's default ``InterpolationMode.NEAREST``)
  sample the input at the inverse image of each output pixel, coordinates (x, y) = (column,
  row) with (0, 0) the top-left pixel's center, rounded half up; outside pixels get ``lo``
  (torchvision's fill 0, black);
- enhance ops (Brightness, Color, Contrast, Sharpness) blend with a degenerate image and
  clip to ``[lo, hi]``, as torchvision's ``_blend`` clamps to ``[0, bound]``;
- Posterize and Equalize work on the 256 levels ``round((x − lo) / (hi − lo) · 255)`` and map
  back (exact for 8-bit data; other values are quantized to that grid); Solarize's threshold
  is given on the 0..255 scale, as torchvision's table, and compared with
  ``(x − lo) / (hi − lo) · 255`` (a level equal to the threshold is inverted, as for uint8).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from tricks.augment._color import _LUMA

OPS = (
    "Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast",
    "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize",
)
"""torchvision's op list of RandAugment and TrivialAugmentWide, in its order (the index `lax.switch` takes)."""

SIGNED = frozenset({"ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast",
                    "Sharpness"})
"""Ops whose magnitude gets a random sign, as torchvision's ``(magnitudes, signed)`` table."""


def _affine(x: jax.Array, matrix: jax.Array, offset: jax.Array, fill: float) -> jax.Array:
    """out[y, x] = image at round(matrix · (x, y) + offset), `fill` where that falls outside."""
    h, w, c = x.shape
    rows, cols = jnp.meshgrid(jnp.arange(h, dtype=x.dtype), jnp.arange(w, dtype=x.dtype), indexing="ij")
    dst = jnp.stack([cols.ravel(), rows.ravel()])
    src = jnp.floor(matrix.astype(x.dtype) @ dst + offset.astype(x.dtype)[:, None] + 0.5).astype(jnp.int32)
    inside = (src[0] >= 0) & (src[0] < w) & (src[1] >= 0) & (src[1] < h)
    values = x[jnp.clip(src[1], 0, h - 1), jnp.clip(src[0], 0, w - 1)]
    return jnp.where(inside[:, None], values, jnp.asarray(fill, x.dtype)).reshape(h, w, c)


def _levels(x: jax.Array, lo: float, hi: float) -> jax.Array:
    return jnp.clip(jnp.floor((x - lo) / (hi - lo) * 255 + 0.5), 0, 255).astype(jnp.int32)


def _from_levels(levels: jax.Array, lo: float, hi: float, dtype: jnp.dtype) -> jax.Array:
    return (lo + levels.astype(dtype) / 255 * (hi - lo)).astype(dtype)


def _gray(x: jax.Array) -> jax.Array:
    return (x @ jnp.asarray(_LUMA, x.dtype))[..., None] if x.shape[-1] == 3 else x


def _equalize_channel(x: jax.Array, lo: float, hi: float) -> jax.Array:
    """torchvision's ``_scale_channel`` on one channel's 8-bit levels, as a lookup; unchanged when step is 0."""
    levels = _levels(x, lo, hi)
    hist = jnp.bincount(levels.ravel(), length=256)
    step = (levels.size - hist[levels.max()]) // 255
    lut = (jnp.cumsum(hist) + step // 2) // jnp.maximum(step, 1)
    lut = jnp.clip(jnp.concatenate([jnp.zeros(1, lut.dtype), lut[:-1]]), 0, 255)
    return jnp.where(step == 0, x, _from_levels(lut[levels], lo, hi, x.dtype))


GEOMETRIC = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")
"""The ops that move pixels: each is an inverse affine map, sampled by one nearest-neighbour gather."""


def inverse_maps(height: int, width: int) -> tuple[Callable[[jax.Array], tuple[jax.Array, jax.Array]], ...]:
    """For each op of `OPS`, ``m -> (matrix, offset)`` with out(x, y) = in(matrix · (x, y) + offset).

    The identity map for the pixel-value ops.
    """

    def still(m):
        return jnp.eye(2), jnp.zeros(2)

    def shear_x(m):  # out(x, y) = in(x + m·y, y): PIL's affine data (1, m, 0, 0, 1, 0) of the official code
        return jnp.array([[1.0, m], [0.0, 1.0]]), jnp.zeros(2)

    def shear_y(m):  # out(x, y) = in(x, y + m·x)
        return jnp.array([[1.0, 0.0], [m, 1.0]]), jnp.zeros(2)

    def translate_x(m):  # whole pixels, int(m) as torchvision: out(x, y) = in(x − int(m), y)
        return jnp.eye(2), jnp.stack([-jnp.trunc(m), 0.0])

    def translate_y(m):
        return jnp.eye(2), jnp.stack([0.0, -jnp.trunc(m)])

    def rotate(m):  # m degrees counter-clockwise about the image center, as torchvision's rotate
        t = jnp.deg2rad(m)
        matrix = jnp.array([[jnp.cos(t), -jnp.sin(t)], [jnp.sin(t), jnp.cos(t)]])
        center = jnp.array([(width - 1) / 2, (height - 1) / 2])
        return matrix, center - matrix @ center

    maps = dict(zip(GEOMETRIC, (shear_x, shear_y, translate_x, translate_y, rotate), strict=True))
    return tuple(maps.get(name, still) for name in OPS)


def pixel_functions(value_range: Sequence[float]) -> tuple[Callable[[jax.Array, jax.Array], jax.Array], ...]:
    """For each op of `OPS`, ``(image, m) -> image`` changing values; the identity for the geometric ops."""
    lo, hi = float(value_range[0]), float(value_range[1])

    def clip(x: jax.Array) -> jax.Array:
        return jnp.clip(x, lo, hi)

    def blend(x: jax.Array, degenerate: jax.Array, factor: jax.Array) -> jax.Array:
        return clip(degenerate + factor.astype(x.dtype) * (x - degenerate))

    def identity(x, m):
        return x

    def brightness(x, m):  # blend with black
        return blend(x, jnp.full_like(x, lo), 1 + m)

    def color(x, m):  # blend with the grayscale image; the identity for grayscale images
        return blend(x, _gray(x), 1 + m) if x.shape[-1] == 3 else x

    def contrast(x, m):  # blend with the mean of the grayscale image
        return blend(x, jnp.mean(_gray(x)), 1 + m)

    def sharpness(x, m):  # blend with the 3×3 smoothing [[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13, borders kept
        h, w, _ = x.shape
        shifted = sum(x[dy : h - 2 + dy, dx : w - 2 + dx] for dy in range(3) for dx in range(3))
        blurred = (shifted + 4 * x[1:-1, 1:-1]) / 13
        return blend(x, x.at[1:-1, 1:-1].set(blurred), 1 + m)

    def posterize(x, m):  # keep the int(m) high bits of each 8-bit level
        bits = jnp.trunc(m).astype(jnp.int32)
        mask = 256 - jnp.left_shift(1, 8 - bits)
        return _from_levels(jnp.bitwise_and(_levels(x, lo, hi), mask), lo, hi, x.dtype)

    def solarize(x, m):  # invert the values >= threshold m on the 0..255 scale (1e-3 slack for float rounding)
        return jnp.where((x - lo) * (255 / (hi - lo)) >= m - 1e-3, lo + hi - x, x)

    def autocontrast(x, m):  # stretch each channel's [min, max] to [lo, hi]; a constant channel is kept
        low, high = x.min(axis=(0, 1)), x.max(axis=(0, 1))
        flat = high <= low
        scale = (hi - lo) / jnp.where(flat, 1.0, high - low)
        return jnp.where(flat, x, clip(lo + (x - low) * scale))

    def equalize(x, m):  # histogram equalization of each channel's 256 levels (torchvision's lookup table)
        return jax.vmap(lambda channel: _equalize_channel(channel, lo, hi), in_axes=-1, out_axes=-1)(x)

    functions = {"Brightness": brightness, "Color": color, "Contrast": contrast, "Sharpness": sharpness,
                 "Posterize": posterize, "Solarize": solarize, "AutoContrast": autocontrast, "Equalize": equalize}
    return tuple(functions.get(name, identity) for name in OPS)


def op_functions(value_range: Sequence[float]) -> tuple[Callable[[jax.Array, jax.Array], jax.Array], ...]:
    """The functions ``op(image, magnitude) -> image`` of `OPS`, in order, for images in `value_range`."""
    pixels = pixel_functions(value_range)

    def function(k: int) -> Callable[[jax.Array, jax.Array], jax.Array]:
        if OPS[k] not in GEOMETRIC:
            return pixels[k]
        return lambda x, m: _affine(x, *inverse_maps(*x.shape[:2])[k](m), value_range[0])

    return tuple(function(k) for k in range(len(OPS)))


def apply_switched(image: jax.Array, op: jax.Array, magnitude: jax.Array, value_range: Sequence[float]) -> jax.Array:
    """`apply_op` for a traced `op` in two switches: the affine map (one gather), then the pixel op.

    Under `vmap` a switch runs every branch; this runs one gather instead of five (the
    policies' form: `trivial_augment` on 128×28×28×1 took 6.3 ms instead of 11.6 ms per
    jitted call switching over `op_functions`, on the shared 2-core CPU).
    """
    h, w, _ = image.shape
    matrix, offset = jax.lax.switch(op, inverse_maps(h, w), magnitude)
    image = _affine(image, matrix, offset, value_range[0])
    return jax.lax.switch(op, pixel_functions(value_range), image, magnitude)


def magnitude_table(policy: str, num_bins: int, height: int, width: int) -> list[list[float]]:
    """Magnitude of op k at bin i, ``table[k][i]``, before the random sign: torchvision's ranges.

    `policy` is ``"randaugment"`` or ``"trivial_augment"`` (TrivialAugmentWide's wider ranges).

    Examples:
        >>> table = magnitude_table("randaugment", 31, 28, 28)
        >>> round(table[OPS.index("Rotate")][9], 6), table[OPS.index("Posterize")][9]
        (9.0, 7.0)
    """
    wide = policy == "trivial_augment"

    def linspace(stop: float, start: float = 0.0) -> list[float]:
        return [start + (stop - start) * i / (num_bins - 1) for i in range(num_bins)]

    enhance = linspace(0.99 if wide else 0.9)
    spans = {
        "Identity": [0.0] * num_bins,
        "ShearX": linspace(0.99 if wide else 0.3),
        "ShearY": linspace(0.99 if wide else 0.3),
        "TranslateX": linspace(32.0 if wide else 150.0 / 331.0 * width),
        "TranslateY": linspace(32.0 if wide else 150.0 / 331.0 * height),
        "Rotate": linspace(135.0 if wide else 30.0),
        "Brightness": enhance, "Color": enhance, "Contrast": enhance, "Sharpness": enhance,
        "Posterize": [8.0 - round(i / ((num_bins - 1) / (6 if wide else 4))) for i in range(num_bins)],
        "Solarize": linspace(0.0, 255.0),
        "AutoContrast": [0.0] * num_bins,
        "Equalize": [0.0] * num_bins,
    }
    return [spans[name] for name in OPS]


def apply_op(image: jax.Array, op: str | jax.Array, magnitude: float | jax.Array,
             value_range: Sequence[float] = (0.0, 1.0)) -> jax.Array:
    """One op of `OPS` on one image (H, W, C); `op` a name or a (traced) index, by `lax.switch`.

    Args:
        image: float (H, W, C), values in `value_range`; H, W >= 3.
        op: a name of `OPS` or its index (an int or traced integer).
        magnitude: the op's signed magnitude, in torchvision's units (see `randaugment`).
        value_range: (lo, hi), the range of the image's values.

    Examples:
        >>> import jax.numpy as jnp
        >>> x = jnp.linspace(0.0, 1.0, 9).reshape(3, 3, 1)
        >>> apply_op(x, "Solarize", 128.0)[..., 0]   # values >= 128/255 inverted
        Array([[0.   , 0.125, 0.25 ],
               [0.375, 0.5  , 0.375],
               [0.25 , 0.125, 0.   ]], dtype=float32)
    """
    if image.ndim != 3 or min(image.shape[:2]) < 3:
        raise ValueError(f"image ops expect one image (H, W, C) with H, W >= 3, got {tuple(image.shape)}")
    index = OPS.index(op) if isinstance(op, str) else op
    functions = op_functions(value_range)
    magnitude = jnp.asarray(magnitude, jnp.float32)
    return jax.lax.switch(index, [lambda x, m, f=f: f(x, m) for f in functions], image, magnitude)


def check_value_range(value_range: Sequence[float]) -> tuple[float, float]:
    """`value_range` as (lo, hi) floats with lo < hi, or a ValueError."""
    value_range = tuple(float(v) for v in value_range)
    if len(value_range) != 2 or not value_range[0] < value_range[1] or not all(map(math.isfinite, value_range)):
        raise ValueError(f"must be (low, high) with low < high, got {value_range}")
    return value_range
