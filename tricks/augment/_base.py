"""The augmentation interface, input checks, and `compose`."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax

import registry

Batch = dict[str, Any]
"""``{"image": float32 (N, H, W, C), "label": float32 (N, num_classes), ...}``."""


class Augment(abc.ABC):
    """An augmentation: ``aug(batch, key, train) -> batch``, pure and jittable.

    `batch` is a dict with ``"image"`` (N, H, W, C) and ``"label"`` (N, num_classes), or a
    plain image array (N, H, W, C), which comes back as an array (as torchvision and timm
    transforms take tensors); mixup, which mixes labels too, needs the dict.

    `train` is a Python bool (the train and eval steps are traced separately). In training
    `apply` draws every example's randomness from `key`; at evaluation `evaluate` runs,
    which is the identity unless the augmentation must act then too (normalize, the
    center crop of random_resized_crop). Keys other than those it changes pass through.

    Examples:
        >>> import jax, jax.numpy as jnp, registry, tricks
        >>> flip = registry.build("augment", "random_flip(probability=1.0)")
        >>> batch = {"image": jnp.arange(4.0).reshape(1, 1, 4, 1), "label": jnp.ones((1, 2))}
        >>> flip(batch, jax.random.key(0), train=True)["image"].ravel()
        Array([3., 2., 1., 0.], dtype=float32)
        >>> flip(batch, jax.random.key(0), train=False)["image"].ravel()
        Array([0., 1., 2., 3.], dtype=float32)
    """

    def __call__(self, batch: Batch | jax.Array, key: jax.Array, train: bool) -> Batch | jax.Array:
        if not isinstance(train, bool):
            raise TypeError(f"train must be a Python bool (static under jit), got {type(train).__name__}")
        return on_images(lambda b: self.apply(b, key) if train else self.evaluate(b), batch)

    @abc.abstractmethod
    def apply(self, batch: Batch, key: jax.Array) -> Batch:
        """The training-time transformation."""

    def evaluate(self, batch: Batch) -> Batch:
        """The evaluation-time transformation (the identity unless overridden)."""
        return batch


def on_images(fn: Callable[[Batch], Batch], batch: Batch | jax.Array) -> Batch | jax.Array:
    """``fn(batch)``; a plain image array goes in as ``{"image": array}`` and comes back as an array.

    Examples:
        >>> import jax.numpy as jnp
        >>> on_images(lambda b: {**b, "image": b["image"] + 1}, jnp.zeros((1, 2, 2, 1))).shape
        (1, 2, 2, 1)
    """
    if isinstance(batch, Mapping):
        return fn(batch)
    if not hasattr(batch, "ndim"):
        raise TypeError(f"an augmentation takes a batch dict or an image array (N, H, W, C), got "
                        f"{type(batch).__name__}")
    return fn({"image": batch})["image"]


def labels(batch: Batch, name: str) -> jax.Array:
    """The batch's ``"label"`` array (one-hot or soft), which label-mixing augmentations need.

    Examples:
        >>> import jax.numpy as jnp
        >>> labels({"image": jnp.zeros((2, 4, 4, 1))}, "mixup")
        Traceback (most recent call last):
        ...
        ValueError: mixup mixes labels too: call it with {"image": ..., "label": ...}, not an image array alone
    """
    if "label" not in batch:
        raise ValueError(f'{name} mixes labels too: call it with {{"image": ..., "label": ...}}, not an image '
                         f'array alone')
    return batch["label"]


def images(batch: Batch, name: str) -> jax.Array:
    """The batch's ``"image"`` array, checked to be (N, H, W, C).

    Examples:
        >>> import jax.numpy as jnp
        >>> images({"image": jnp.zeros((2, 40))}, "random_flip")
        Traceback (most recent call last):
        ...
        ValueError: random_flip expects batch['image'] of shape (N, H, W, C), got (2, 40)
    """
    if "image" not in batch:
        raise ValueError(f"{name} expects a batch with an 'image' entry, got keys {sorted(batch)}")
    image = batch["image"]
    if image.ndim != 4:
        raise ValueError(f"{name} expects batch['image'] of shape (N, H, W, C), got {tuple(image.shape)}")
    return image


def replace(batch: Batch, **entries: Any) -> Batch:
    """A new batch dict with `entries` replaced (the input is left untouched).

    Examples:
        >>> replace({"image": 1, "label": 2}, image=3)
        {'image': 3, 'label': 2}
    """
    return {**batch, **entries}


@dataclasses.dataclass(frozen=True)
class Compose:
    """Applies augmentations in order, each with its own key split from the one given.

    It follows the same calling convention as an `Augment`: ``aug(batch, key, train)``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from tricks.augment import normalize, random_flip
        >>> aug = Compose((random_flip(), normalize(0.5, 0.5)))
        >>> batch = {"image": jnp.ones((2, 4, 4, 1)), "label": jnp.eye(2)}
        >>> aug(batch, jax.random.key(0), train=False)["image"].max()
        Array(1., dtype=float32)
    """

    augments: tuple[Callable[[Batch, jax.Array, bool], Batch], ...]

    def __call__(self, batch: Batch | jax.Array, key: jax.Array, train: bool) -> Batch | jax.Array:
        if not self.augments:
            return batch
        for aug, k in zip(self.augments, jax.random.split(key, len(self.augments)), strict=True):
            batch = aug(batch, k, train)
        return batch


def compose(augments: Sequence[Augment | str | Mapping]) -> Compose:
    """One augmentation applying `augments` in order; specs are built through the registry.

    Args:
        augments: `Augment` objects or ``augment`` specs (strings or mappings), e.g. a
            config's ``augment`` list. An empty list gives the identity.

    Examples:
        >>> import jax, jax.numpy as jnp, tricks
        >>> aug = compose(["random_crop(padding=2)", "random_flip", "normalize(mean=0.5, std=0.25)"])
        >>> batch = {"image": jnp.full((8, 6, 6, 1), 0.5), "label": jnp.eye(8)}
        >>> out = jax.jit(aug, static_argnums=2)(batch, jax.random.key(0), True)
        >>> out["image"].shape, out["label"].shape
        ((8, 6, 6, 1), (8, 8))
    """
    built = []
    for aug in augments:
        if isinstance(aug, (str, Mapping)) or hasattr(aug, "to_dict"):
            aug = registry.build("augment", aug)
        if not callable(aug):
            raise registry.RegistryError(f"expected an augmentation or an augment spec, got {aug!r}")
        built.append(aug)
    return Compose(tuple(built))
