"""A small convolutional network: conv blocks with pooling, then dense layers.

Pooling is written as reshape + max (`tricks.models._layers.pool2x2`), measured faster than
`flax.linen.max_pool` on CPU. Jitted SGD train step (forward + backward + update) of this
CNN with channels (32, 64), kernel 3, dense (128,), batch 128×28×28×1, on the 2-core CPU
machine of issue 5 (median of 5×20 steps, two runs each; the machine was shared with other
jobs, at load averages of about 2 and about 9):

| pooling | ms / step, load ~2 | ms / step, load ~9 |
|---|---|---|
| `flax.linen.max_pool` (`lax.reduce_window`) | 165–207 | 579–621 |
| `lax.reduce_window` directly | 189–261 | 492–528 |
| reshape + max (used here) | 120–137 | 282–348 |

The backward pass of `reduce_window` max (a select-and-scatter) is what costs; the
reshape form's backward is an elementwise mask.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import flax.linen as nn
import jax
import jax.numpy as jnp

import registry
from tricks.models import _layers


class CNN(nn.Module):
    """Conv blocks (Conv → [BatchNorm] → activation → 2×2 pool → [Dropout]), flatten, dense layers, head.

    Parameters are named ``Conv_i``, ``BatchNorm_i`` (block i), ``Dense_j`` and ``head``.
    The activations of each block (before pooling) and of each dense layer are sown into
    ``intermediates`` as ``Conv_i_activation`` and ``Dense_j_activation``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> model = CNN(num_classes=10, channels=(4,), dense=(), conv_dropout=(0.0,), dense_dropout=())
        >>> variables = jax.eval_shape(model.init, jax.random.key(0), jnp.ones((1, 8, 8, 1)))   # shapes only
        >>> sorted(variables["params"])
        ['Conv_0', 'head']
    """

    num_classes: int
    channels: tuple[int, ...] = (32, 64)
    kernel_size: int = 3
    dense: tuple[int, ...] = (128,)
    batch_norm: bool = False
    conv_dropout: tuple[float, ...] = (0.0, 0.0)
    dense_dropout: tuple[float, ...] = (0.0,)
    pool: str = "max"
    activation: str = "relu"
    kernel_init: Callable = nn.initializers.lecun_normal()
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    axis_name: str | None = None
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        act = _layers.activation(self.activation)
        x = _layers.image_input(x, "cnn")
        k = (self.kernel_size, self.kernel_size)
        for i, (features, rate) in enumerate(zip(self.channels, self.conv_dropout, strict=True)):
            x = nn.Conv(
                features, k, use_bias=not self.batch_norm, kernel_init=self.kernel_init, dtype=self.dtype,
                name=f"Conv_{i}",
            )(x)
            if self.batch_norm:
                x = nn.BatchNorm(
                    use_running_average=not train,
                    momentum=self.bn_momentum,
                    epsilon=self.bn_epsilon,
                    axis_name=self.axis_name,
                    dtype=self.dtype,
                    name=f"BatchNorm_{i}",
                )(x)
            x = act(x)
            self.sow("intermediates", f"Conv_{i}_activation", x)
            if self.pool != "none":
                x = _layers.pool2x2(x, self.pool)
            if rate > 0:
                x = _layers.Dropout(rate)(x, deterministic=not train)
        x = x.reshape(x.shape[0], -1)
        for j, (features, rate) in enumerate(zip(self.dense, self.dense_dropout, strict=True)):
            x = act(nn.Dense(features, kernel_init=self.kernel_init, dtype=self.dtype, name=f"Dense_{j}")(x))
            self.sow("intermediates", f"Dense_{j}_activation", x)
            if rate > 0:
                x = _layers.Dropout(rate)(x, deterministic=not train)
        return nn.Dense(self.num_classes, kernel_init=self.kernel_init, dtype=jnp.float32, name="head")(x)


@registry.register("model")
def cnn(
    num_classes: int,
    channels: Sequence[int] = (32, 64),
    kernel_size: int = 3,
    dense: Sequence[int] = (128,),
    batch_norm: bool = False,
    conv_dropout: float | Sequence[float] = 0.0,
    dense_dropout: float | Sequence[float] = 0.0,
    pool: Literal["max", "avg", "none"] = "max",
    activation: str = "relu",
    init: _layers.InitLike = "kaiming_normal",
    bn_momentum: float = 0.9,
    bn_epsilon: float = 1e-5,
    axis_name: str | None = None,
    dtype: Literal["float32", "bfloat16"] = "float32",
) -> CNN:
    """A convnet for small images: conv blocks with 2×2 pooling, dense layers, a linear head.

    The defaults are the classic two-conv network of the Fashion-MNIST benchmark.
    Convolutions use 'SAME' padding; each pooling halves height and width (an odd row or
    column is dropped). Inputs are NHWC; (N, H, W) gets a channel axis.

    Args:
        num_classes: the number of logits (the engine fills it in from the dataset).
        channels: output channels of each conv block.
        kernel_size: the square convolution window.
        dense: hidden dense layer sizes after flattening.
        batch_norm: batch norm in every conv block, between convolution and activation.
        conv_dropout: dropout rate after each conv block: one rate, or one per block.
        dense_dropout: dropout rate after each dense layer: one rate, or one per layer.
        pool: 'max' or 'avg' 2×2 pooling after each block, or 'none'.
        activation: the nonlinearity's name (see `tricks.models.ACTIVATIONS`).
        init: the kernel initializer of every conv and dense layer; biases are 0.
        bn_momentum: running-average momentum of batch norm (Flax convention).
        bn_epsilon: batch norm's variance epsilon.
        axis_name: the mapped axis over which batch statistics are averaged (data-parallel
            `pmap`; the engine sets it); None for one device or `jax.jit` sharding.
        dtype: the compute dtype ('float32' or 'bfloat16', the config's ``precision``):
            layers compute in it; parameters, batch-norm statistics and logits stay float32.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> model = cnn(10, channels=[8, 16], dense=[32], conv_dropout=[0.0, 0.1], dense_dropout=0.5)
        >>> x = jnp.ones((2, 28, 28))
        >>> variables = jax.eval_shape(model.init, jax.random.key(0), x)   # shapes only
        >>> variables["params"]["Dense_0"]["kernel"].shape   # 7 × 7 × 16 after two poolings
        (784, 32)
        >>> train = lambda v, x, key: model.apply(v, x, train=True, rngs={"dropout": key})
        >>> jax.eval_shape(train, variables, x, jax.random.key(1)).shape
        (2, 10)
    """
    _layers.activation(activation)
    if pool not in ("max", "avg", "none"):
        raise registry.RegistryError(f"must be 'max', 'avg' or 'none', got {pool!r}", argument="pool")
    channels = _layers.positive_ints(channels, "channels")
    dense = _layers.positive_ints(dense, "dense")
    return CNN(
        num_classes=_layers.positive_int(num_classes, "num_classes"),
        channels=channels,
        kernel_size=_layers.positive_int(kernel_size, "kernel_size"),
        dense=dense,
        batch_norm=batch_norm,
        conv_dropout=_layers.per_block(conv_dropout, len(channels), "conv_dropout"),
        dense_dropout=_layers.per_block(dense_dropout, len(dense), "dense_dropout"),
        pool=pool,
        activation=activation,
        kernel_init=_layers.resolve_init(init),
        bn_momentum=bn_momentum,
        bn_epsilon=bn_epsilon,
        axis_name=axis_name,
        dtype=_layers.compute_dtype(dtype),
    )
