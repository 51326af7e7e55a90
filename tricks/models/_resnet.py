"""CIFAR-style ResNet (He et al. 2016, §4.2): 6n+2 layers in three stages of basic blocks."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Literal

import flax.linen as nn
import jax
import jax.numpy as jnp

import registry
from tricks.models import _layers


class BasicBlock(nn.Module):
    """conv3×3 → BN → ReLU → conv3×3 → BN, plus the shortcut, then ReLU.

    With `zero_init_residual` the last BN scale starts at zero, so the block starts as the
    identity (Goyal et al. 2017). When the shape changes, the shortcut either subsamples
    and zero-pads the channels ('pad', He et al.'s option A) or is a strided 1×1 conv with
    BN ('projection', option B). The block's output is sown into ``intermediates`` as
    ``activation``.

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
    ``stem_BatchNorm``, ``stage{1,2,3}_block{b}`` and ``head``.

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

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
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

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> model = resnet(10, depth=20)
        >>> x = jnp.ones((2, 32, 32, 3))
        >>> variables = jax.eval_shape(lambda: model.init(jax.random.key(0), x, train=False))
        >>> sum(p.size for p in jax.tree.leaves(variables["params"]))
        269722
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise registry.RegistryError(
            f"must be 6n+2 with n >= 1 (20, 32, 44, 56, 110), got {depth!r}", argument="depth"
        )
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
    )
