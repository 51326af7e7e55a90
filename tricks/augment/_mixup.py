"""The label-mixing augmentations: Mixup (Zhang et al. 2018), convex combinations of
example pairs and of their targets, and CutMix (Yun et al. 2019), a box of the partner
pasted in, the targets mixed by the box's area."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

import registry
from tricks.augment._base import Augment, Batch, images, labels, replace


@dataclasses.dataclass(frozen=True)
class Mixup(Augment):
    """x̃ᵢ = λᵢxᵢ + (1 − λᵢ)x_π(i), ỹᵢ likewise, λᵢ ~ Beta(α, α) per example, π a random permutation.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> batch = {"image": jnp.ones((4, 2, 2, 1)), "label": jnp.eye(4)}
        >>> out = jax.eval_shape(lambda b: Mixup(0.4)(b, jax.random.key(0), True), batch)   # shapes only
        >>> out["image"].shape, out["label"].shape
        ((4, 2, 2, 1), (4, 4))
    """

    alpha: float

    def apply(self, batch: Batch, key: jax.Array) -> Batch:
        x, y = batch["image"], labels(batch, "mixup")
        if y.ndim != 2:
            raise ValueError(
                f"mixup expects one-hot or soft labels (N, num_classes), got shape {tuple(y.shape)}"
            )
        k_lambda, k_perm = jax.random.split(key)
        partner = jax.random.permutation(k_perm, x.shape[0])
        image, label = _blend(x, y, partner, jax.random.beta(k_lambda, self.alpha, self.alpha, (x.shape[0],)))
        return replace(batch, image=image, label=label)


def _blend(x: jax.Array, y: jax.Array, partner: jax.Array, lam: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Mixup's images and labels: λᵢ·(xᵢ, yᵢ) + (1 − λᵢ)·(x_π(i), y_π(i)), π = `partner`."""
    lx = lam.astype(x.dtype).reshape((-1,) + (1,) * (x.ndim - 1))
    ly = lam[:, None].astype(y.dtype)
    return lx * x + (1 - lx) * x[partner], ly * y + (1 - ly) * y[partner]


@registry.register("augment")
def mixup(alpha: float = 0.2) -> Mixup:
    """Mixup: each example is blended with a random partner, by its own λ ~ Beta(α, α).

    Labels must already be probability vectors (the engine one-hot encodes before
    augmenting); mixed labels stay probability vectors. Per-example λ (rather than one per
    batch as in the paper) keeps every example's draw independent. Works for any input rank.

    Examples:
        >>> mixup(alpha=0.4)
        Mixup(alpha=0.4)
    """
    if not alpha > 0:
        raise registry.RegistryError(f"must be > 0, got {alpha}", argument="alpha")
    return Mixup(float(alpha))


@dataclasses.dataclass(frozen=True)
class CutMix(Augment):
    """x̃ᵢ = xᵢ outside a box, x_π(i) inside; ỹᵢ = λ'ᵢyᵢ + (1 − λ'ᵢ)y_π(i), λ'ᵢ = 1 − box area / image area.

    The box follows the authors' ``rand_bbox`` (clovaai/CutMix-PyTorch, as timm's):
    λ ~ Beta(α, α), r = √(1 − λ), a center (cy, cx) uniform over the pixels, rows
    clip(cy ∓ ⌊⌊H·r⌋/2⌋, 0, H) and columns likewise, so clipping at a border shrinks the box
    and λ' counts what was pasted. One λ, center and partner per example. With
    `switch_prob` > 0, the whole batch is mixed by `mixup` (λ ~ Beta(mixup_alpha, mixup_alpha),
    the same partners) instead, with that probability.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> batch = {"image": jnp.ones((4, 6, 6, 1)), "label": jnp.eye(4)}
        >>> out = jax.jit(lambda b, k: CutMix(1.0)(b, k, True))(batch, jax.random.key(0))
        >>> out["image"].shape, bool(jnp.allclose(out["label"].sum(axis=1), 1.0))
        ((4, 6, 6, 1), True)
    """

    alpha: float
    switch_prob: float = 0.0
    mixup_alpha: float = 1.0

    def apply(self, batch: Batch, key: jax.Array) -> Batch:
        x, y = images(batch, "cutmix"), labels(batch, "cutmix")
        if y.ndim != 2:
            raise ValueError(f"cutmix expects one-hot or soft labels (N, num_classes), got shape {tuple(y.shape)}")
        n, h, w, _ = x.shape
        k_lambda, k_center, k_perm, k_switch, k_mixup = jax.random.split(key, 5)
        lam = jax.random.beta(k_lambda, self.alpha, self.alpha, (n,))
        cut = jnp.sqrt(1.0 - lam)
        half = jnp.stack([jnp.floor(h * cut), jnp.floor(w * cut)], axis=1).astype(jnp.int32) // 2
        center = jax.random.randint(k_center, (n, 2), 0, jnp.array([h, w]))
        low = jnp.clip(center - half, 0, jnp.array([h, w]))
        high = jnp.clip(center + half, 0, jnp.array([h, w]))
        rows, cols = jnp.arange(h), jnp.arange(w)
        inside = (((rows >= low[:, :1]) & (rows < high[:, :1]))[:, :, None]
                  & ((cols >= low[:, 1:]) & (cols < high[:, 1:]))[:, None, :])
        partner = jax.random.permutation(k_perm, n)
        kept = 1.0 - jnp.prod(high - low, axis=1) / (h * w)
        ly = kept[:, None].astype(y.dtype)
        image, label = jnp.where(inside[..., None], x[partner], x), ly * y + (1 - ly) * y[partner]
        if self.switch_prob > 0:
            use_mixup = jax.random.bernoulli(k_switch, self.switch_prob)
            mixed = _blend(x, y, partner, jax.random.beta(k_mixup, self.mixup_alpha, self.mixup_alpha, (n,)))
            image, label = jnp.where(use_mixup, mixed[0], image), jnp.where(use_mixup, mixed[1], label)
        return replace(batch, image=image, label=label)


@registry.register("augment")
def cutmix(alpha: float = 1.0, switch_prob: float = 0.0, mixup_alpha: float = 1.0) -> CutMix:
    """CutMix: each example gets a box cut from a random partner, labels mixed by its area.

    α = 1 (the default, as the paper and timm) draws λ uniformly; the box is clipped to the
    image and the labels are mixed by the corrected λ' = 1 − pasted area / image area (timm's
    ``correct_lam``). With `switch_prob` > 0, each batch is instead mixed by mixup with
    λ ~ Beta(mixup_alpha, mixup_alpha) with probability `switch_prob`, as timm's
    ``Mixup(mixup_alpha, cutmix_alpha=alpha, switch_prob)`` in batch mode (DeiT's recipe:
    ``cutmix(1.0, switch_prob=0.5, mixup_alpha=0.8)``). Partners come from a random
    permutation and λ is drawn per example, as `mixup` does (timm pairs the batch with its
    reverse and draws one λ per batch). Labels must already be probability vectors, as for
    `mixup`; images must be (N, H, W, C): 1-D signals raise a ValueError naming their shape.

    Args:
        alpha: CutMix's Beta(α, α) concentration, > 0.
        switch_prob: probability that a batch uses mixup instead, in [0, 1].
        mixup_alpha: mixup's Beta concentration when switched, > 0.

    Examples:
        >>> cutmix()
        CutMix(alpha=1.0, switch_prob=0.0, mixup_alpha=1.0)
    """
    if not alpha > 0:
        raise registry.RegistryError(f"must be > 0, got {alpha}", argument="alpha")
    if not 0 <= switch_prob <= 1:
        raise registry.RegistryError(f"must be in [0, 1], got {switch_prob}", argument="switch_prob")
    if not mixup_alpha > 0:
        raise registry.RegistryError(f"must be > 0, got {mixup_alpha}", argument="mixup_alpha")
    return CutMix(float(alpha), float(switch_prob), float(mixup_alpha))
