"""On-device augmentations (kind ``augment``), run inside the jitted train step.

Calling convention, the same for every augmentation and for `compose`::

    batch = aug(batch, key, train)

``batch`` is ``{"image": float32 (N, H, W, C), "label": float32 (N, num_classes), ...}``
(labels already one-hot or soft); ``key`` a JAX PRNG key; ``train`` a Python bool. Each
augmentation is pure and jittable, returns a new dict with the same shapes and dtypes (other
entries pass through), and gives every example its own random draw. At evaluation
(``train=False``) every augmentation is the identity except `normalize` and the center crop
of `random_resized_crop`.

| name | training | evaluation |
|---|---|---|
| normalize(mean, std) | (x − mean) / std | same |
| random_flip(probability) | horizontal mirror | identity |
| random_crop(padding, mode) | pad, crop at a random offset | identity |
| random_resized_crop(size, scale, ratio, eval_crop) | random box, resized | center crop, resized |
| brightness(max_delta) | x + δ | identity |
| contrast(lower, upper) | (x − m)·f + m | identity |
| saturation(lower, upper) | blend with grayscale (RGB only; raises otherwise) | identity |
| cutout(size) | a square of zeros | identity |
| mixup(alpha) | blend example pairs and labels | identity |
| cutmix(alpha, switch_prob, mixup_alpha) | paste a box of the partner, labels by its area (or mixup) | identity |
| randaugment(num_ops, magnitude, num_magnitude_bins, value_range) | num_ops random ops at one magnitude | identity |
| trivial_augment(num_magnitude_bins, value_range) | one random op at a random magnitude | identity |
| random_erasing(probability, scale, ratio, value) | overwrite one random rectangle | identity |

Value ranges: the datasets give pixels in [0, 1] (digits ×1/16, Fashion-MNIST ×1/255);
`randaugment` and `trivial_augment` clip to and quantize on their explicit ``value_range``
(default (0, 1)), so they go before `normalize`; `random_erasing`'s N(0, 1) fill suits
standardized images, after it. Image-only augmentations refuse 1-D signals (MNIST-1D),
naming the shape. `apply_op` runs one of the 14 policy ops (`OPS`) on one image.

`compose(list)` applies a list in order (specs are built through the registry), splitting
the key. Measured forms (crop by `vmap(lax.dynamic_slice)`, resize by a 4-point bilinear
gather) are documented in `tricks.augment._geometry`.

Examples:
    >>> import jax, jax.numpy as jnp, tricks
    >>> from tricks import augment
    >>> aug = augment.compose(["random_crop(padding=4)", "random_flip", "normalize(mean=0.5, std=0.25)"])
    >>> batch = {"image": jnp.zeros((128, 32, 32, 3)), "label": jax.nn.one_hot(jnp.arange(128) % 10, 10)}
    >>> step = jax.jit(lambda b, k: aug(b, k, train=True))
    >>> out = step(batch, jax.random.key(0))
    >>> out["image"].shape, out["image"].dtype
    ((128, 32, 32, 3), dtype('float32'))
"""

from tricks.augment._base import Augment, Batch, Compose, compose
from tricks.augment._color import (
    Brightness,
    Contrast,
    Normalize,
    Saturation,
    brightness,
    contrast,
    normalize,
    saturation,
)
from tricks.augment._geometry import (
    Cutout,
    RandomCrop,
    RandomFlip,
    RandomResizedCrop,
    cutout,
    random_crop,
    random_flip,
    random_resized_crop,
    resize_boxes,
)
from tricks.augment._erasing import RandomErasing, random_erasing
from tricks.augment._mixup import CutMix, Mixup, cutmix, mixup
from tricks.augment._ops import OPS, apply_op
from tricks.augment._policies import RandAugment, TrivialAugment, randaugment, trivial_augment

__all__ = [
    "Augment",
    "Batch",
    "Brightness",
    "Compose",
    "Contrast",
    "CutMix",
    "Cutout",
    "Mixup",
    "Normalize",
    "OPS",
    "RandAugment",
    "RandomCrop",
    "RandomErasing",
    "RandomFlip",
    "RandomResizedCrop",
    "Saturation",
    "TrivialAugment",
    "apply_op",
    "brightness",
    "compose",
    "contrast",
    "cutmix",
    "cutout",
    "mixup",
    "normalize",
    "randaugment",
    "random_crop",
    "random_erasing",
    "random_flip",
    "random_resized_crop",
    "resize_boxes",
    "saturation",
    "trivial_augment",
]
