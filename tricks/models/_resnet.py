"""CIFAR-style ResNet (He et al. 2016, §4.2): 6n+2 layers in three stages of basic blocks.

Optional stochastic depth (Huang et al. 2016) as timm does it (`timm.layers.drop_path` and
the linear rule of timm's ResNet): the residual branch of block i of n is dropped per
example with probability ``drop_path_rate · i / (n − 1)``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Literal

import flax.linen as nn
import jax
import jax.numpy as jnp

import registry
from tricks.models import _layers


class DropPath(nn.Module):
    """Stochastic depth: the whole input of an example is zeroed with probability `rate`.

    In training, each example's residual branch is kept with probability q = 1 − rate and
    then scaled by 1/q (so its expectation is unchanged), or replaced by zeros; at
    evaluation it is the identity (timm's ``drop_path`` with ``scale_by_keep=True``). One
    Bernoulli draw per example, from the ``dropout`` RNG stream; the result keeps the
    input's dtype.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> y = DropPath(0.5).apply({}, jnp.ones((6, 2, 2, 1)), False, rngs={"dropout": jax.random.key(0)})
        >>> y.reshape(6, -1).min(axis=1).tolist() == y.reshape(6, -1).max(axis=1).tolist()   # per example
        True
        >>> sorted(set(y.ravel().tolist()))
        [0.0, 2.0]
    """

    rate: float

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool) -> jax.Array:
        if deterministic or self.rate == 0:
            return x
        keep_prob = 1.0 - self.rate
        keep = jax.random.bernoulli(self.make_rng("dropout"), keep_prob, (x.shape[0],))
        keep = keep.reshape((x.shape[0],) + (1,) * (x.ndim - 1))
        return jnp.where(keep, x / keep_prob, jnp.zeros((), x.dtype))


class BasicBlock(nn.Module):
    """conv3×3 → BN → ReLU → conv3×3 → BN, plus the shortcut, then ReLU.

    With `zero_init_residual` the last BN scale starts at zero, so the block starts as the
    identity (Goyal et al. 2017). When the shape changes, the shortcut either subsamples
    and zero-pads the channels ('pad', He et al.'s option A) or is a strided 1×1 conv with
    BN ('projection', option B). With `drop_path_rate` > 0 the residual branch (after the
    last BN, before the sum) goes through `DropPath` in training. The block's output is
    sown into ``intermediates`` as ``activation``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> block, x = BasicBlock(features=8, strides=2), jnp.ones((1, 8, 8, 4))
        >>> variables = jax.eval_shape(block.init, jax.random.key(0), x)
        >>> jax.eval_shape(block.apply, variables, x).shape
        (1, 4, 4, 8)
    """

    features: int
    strides: int = 1
    shortcut: str = "pad"
    zero_init_residual: bool = False
    kernel_init: Callable = nn.initializers.he_normal()
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    axis_name: str | None = None
    dtype: Any = jnp.float32
    drop_path_rate: float = 0.0

    def _norm(self, train: bool, name: str, zero: bool = False) -> nn.BatchNorm:
        return nn.BatchNorm(
            use_running_average=not train,
            momentum=self.bn_momentum,
            epsilon=self.bn_epsilon,
            axis_name=self.axis_name,
            scale_init=nn.initializers.zeros if zero else nn.initializers.ones,
            dtype=self.dtype,
            name=name,
        )

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        s = (self.strides, self.strides)
        conv = functools.partial(nn.Conv, use_bias=False, kernel_init=self.kernel_init, dtype=self.dtype)
        y = conv(self.features, (3, 3), s, name="Conv_0")(x)
        y = nn.relu(self._norm(train, "BatchNorm_0")(y))
        y = conv(self.features, (3, 3), name="Conv_1")(y)
        y = self._norm(train, "BatchNorm_1", zero=self.zero_init_residual)(y)
        if self.drop_path_rate > 0:
            y = DropPath(self.drop_path_rate, name="DropPath")(y, deterministic=not train)
        if self.strides != 1 or x.shape[-1] != self.features:
            if self.shortcut == "projection":
                x = conv(self.features, (1, 1), s, name="shortcut_Conv")(x)
                x = self._norm(train, "shortcut_BatchNorm")(x)
            else:
                x = x[:, :: self.strides, :: self.strides]
                x = jnp.pad(x, ((0, 0), (0, 0), (0, 0), (0, self.features - x.shape[-1])))
        y = nn.relu(y + x)
        self.sow("intermediates", "activation", y)
        return y


class ResNet(nn.Module):
    """Stem conv3×3 → BN → ReLU, three stages of `BasicBlock` (width, 2·, 4·width), average pool, head.

    Stages 2 and 3 start with a stride-2 block. Parameters are named ``stem_Conv``,
    ``stem_BatchNorm``, ``stage{1,2,3}_block{b}`` and ``head``. Block i of the n = 3 ·
    `blocks_per_stage` (counted over all stages from 0) drops its residual branch with
    probability ``drop_path_rate · i / (n − 1)`` (`block_drop_path_rates`).

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> model = ResNet(num_classes=10, blocks_per_stage=1, width=4)
        >>> variables = jax.eval_shape(model.init, jax.random.key(0), jnp.ones((1, 8, 8, 3)))
        >>> sorted(variables), sorted(variables["params"])
        (['batch_stats', 'params'],
         ['head', 'stage1_block0', 'stage2_block0', 'stage3_block0', 'stem_BatchNorm', 'stem_Conv'])
    """

    num_classes: int
    blocks_per_stage: int = 3
    width: int = 16
    shortcut: str = "pad"
    zero_init_residual: bool = False
    kernel_init: Callable = nn.initializers.he_normal()
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    axis_name: str | None = None
    dtype: Any = jnp.float32
    drop_path_rate: float = 0.0

    def block_drop_path_rates(self) -> tuple[float, ...]:
        """The drop probability of each block, in order: linear from 0 to `drop_path_rate`.

        Examples:
            >>> ResNet(num_classes=10, blocks_per_stage=2, drop_path_rate=0.5).block_drop_path_rates()
            (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
        """
        n = 3 * self.blocks_per_stage
        return tuple(self.drop_path_rate * i / (n - 1) for i in range(n))

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        rates = self.block_drop_path_rates()
        x = _layers.image_input(x, "resnet")
        x = nn.Conv(self.width, (3, 3), use_bias=False, kernel_init=self.kernel_init, dtype=self.dtype,
                    name="stem_Conv")(x)
        x = nn.BatchNorm(
            use_running_average=not train,
            momentum=self.bn_momentum,
            epsilon=self.bn_epsilon,
            axis_name=self.axis_name,
            dtype=self.dtype,
            name="stem_BatchNorm",
        )(x)
        x = nn.relu(x)
        self.sow("intermediates", "stem_activation", x)
        for stage in range(3):
            for b in range(self.blocks_per_stage):
                x = BasicBlock(
                    features=self.width * 2**stage,
                    strides=2 if stage > 0 and b == 0 else 1,
                    shortcut=self.shortcut,
                    zero_init_residual=self.zero_init_residual,
                    kernel_init=self.kernel_init,
                    bn_momentum=self.bn_momentum,
                    bn_epsilon=self.bn_epsilon,
                    axis_name=self.axis_name,
                    dtype=self.dtype,
                    drop_path_rate=rates[stage * self.blocks_per_stage + b],
                    name=f"stage{stage + 1}_block{b}",
                )(x, train)
        x = x.astype(jnp.float32).mean(axis=(1, 2))  # the pooling and the head in float32
        return nn.Dense(self.num_classes, kernel_init=self.kernel_init, dtype=jnp.float32, name="head")(x)


@registry.register("model")
def resnet(
    num_classes: int,
    depth: int = 20,
    width: int = 16,
    zero_init_residual: bool = False,
    shortcut: Literal["pad", "projection"] = "pad",
    init: _layers.InitLike = "kaiming_normal",
    bn_momentum: float = 0.9,
    bn_epsilon: float = 1e-5,
    axis_name: str | None = None,
    dtype: Literal["float32", "bfloat16"] = "float32",
    drop_path_rate: float = 0.0,
) -> ResNet:
    """CIFAR-style ResNet-`depth` with batch norm (depth 6n+2: 20, 32, 44, 56, 110, ...).

    ResNet-20 with the defaults has 0.27M parameters, as in He et al.'s table 6.

    Args:
        num_classes: the number of logits (the engine fills it in from the dataset).
        depth: 6n+2 layers, n basic blocks per stage.
        width: channels of the first stage (doubled in each later stage).
        zero_init_residual: start each block's last BN scale at zero (Goyal et al. 2017).
        shortcut: 'pad' (identity, subsample + zero channels when the shape changes; He et
            al.'s option A) or 'projection' (strided 1×1 conv + BN; option B).
        init: the kernel initializer of every conv and of the head; biases are 0.
        bn_momentum: running-average momentum (Flax convention; torch's 0.1 is 0.9 here).
        bn_epsilon: batch norm's variance epsilon.
        axis_name: a mapped axis over which batch statistics are averaged (data-parallel
            `pmap` training); None computes them on the local batch.
        dtype: the compute dtype ('float32' or 'bfloat16', the config's ``precision``):
            layers compute in it; parameters, batch-norm statistics and logits stay float32.
        drop_path_rate: stochastic depth (Huang et al. 2016), in [0, 1): in training, block
            i of the n = 3(depth − 2)/6 drops its residual branch for each example with
            probability ``drop_path_rate · i / (n − 1)`` (the first block never, the last
            with `drop_path_rate`: timm's ResNet rule; Huang et al. count from 1, so their
            first block drops with `drop_path_rate` / n) and scales it by 1/(1 − p) when kept;
            the identity at evaluation. Draws from the ``dropout`` RNG stream. 0 is the
            plain ResNet (no parameter changes with it).

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> model = resnet(10, depth=20)
        >>> x = jnp.ones((2, 32, 32, 3))
        >>> variables = jax.eval_shape(lambda: model.init(jax.random.key(0), x, train=False))
        >>> sum(p.size for p in jax.tree.leaves(variables["params"]))
        269722
        >>> resnet(10, depth=8, drop_path_rate=0.2).block_drop_path_rates()
        (0.0, 0.1, 0.2)
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise registry.RegistryError(
            f"must be 6n+2 with n >= 1 (20, 32, 44, 56, 110), got {depth!r}", argument="depth"
        )
    if isinstance(drop_path_rate, bool) or not isinstance(drop_path_rate, (int, float)):
        raise registry.RegistryError(f"must be a number in [0, 1), got {drop_path_rate!r}", argument="drop_path_rate")
    if shortcut not in ("pad", "projection"):
        raise registry.RegistryError(f"must be 'pad' or 'projection', got {shortcut!r}", argument="shortcut")
    return ResNet(
        num_classes=_layers.positive_int(num_classes, "num_classes"),
        blocks_per_stage=(depth - 2) // 6,
        width=_layers.positive_int(width, "width"),
        shortcut=shortcut,
        zero_init_residual=zero_init_residual,
        kernel_init=_layers.resolve_init(init),
        bn_momentum=bn_momentum,
        bn_epsilon=bn_epsilon,
        axis_name=axis_name,
        dtype=_layers.compute_dtype(dtype),
        drop_path_rate=_layers.rate(drop_path_rate, "drop_path_rate"),
    )
