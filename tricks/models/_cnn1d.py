"""A 1-D convnet for signals such as MNIST-1D (Greydanus & Kobak's `ConvBase` by default)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import flax.linen as nn
import jax
import jax.numpy as jnp

import registry
from tricks.models import _layers


class CNN1D(nn.Module):
    """Strided 1-D convs (Conv → [BatchNorm] → activation → [Dropout]), flatten, dense layers, head.

    Parameters are named ``Conv_i``, ``BatchNorm_i``, ``Dense_j`` and ``head``; activations
    are sown into ``intermediates`` as ``Conv_i_activation`` and ``Dense_j_activation``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> model = CNN1D(num_classes=10)
        >>> variables = jax.eval_shape(model.init, jax.random.key(0), jnp.ones((1, 40)))   # shapes only
        >>> variables["params"]["head"]["kernel"].shape   # 25 channels × length 5
        (125, 10)
    """

    num_classes: int
    channels: tuple[int, ...] = (25, 25, 25)
    kernel_size: tuple[int, ...] = (5, 3, 3)
    stride: int = 2
    padding: int = 1
    dense: tuple[int, ...] = ()
    dropout: float = 0.0
    batch_norm: bool = False
    activation: str = "relu"
    kernel_init: Callable = nn.initializers.lecun_normal()
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    axis_name: str | None = None
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        act = _layers.activation(self.activation)
        if x.ndim == 2:
            x = x[..., None]
        if x.ndim != 3:
            raise ValueError(f"cnn1d expects signals of shape (N, L) or (N, L, C), got shape {x.shape}")
        for i, (features, k) in enumerate(zip(self.channels, self.kernel_size, strict=True)):
            x = nn.Conv(
                features,
                (k,),
                (self.stride,),
                padding=[(self.padding, self.padding)],
                use_bias=not self.batch_norm,
                kernel_init=self.kernel_init,
                dtype=self.dtype,
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
            if self.dropout > 0:
                x = _layers.Dropout(self.dropout)(x, deterministic=not train)
        x = x.reshape(x.shape[0], -1)
        for j, features in enumerate(self.dense):
            x = act(nn.Dense(features, kernel_init=self.kernel_init, dtype=self.dtype, name=f"Dense_{j}")(x))
            self.sow("intermediates", f"Dense_{j}_activation", x)
            if self.dropout > 0:
                x = _layers.Dropout(self.dropout)(x, deterministic=not train)
        return nn.Dense(self.num_classes, kernel_init=self.kernel_init, dtype=jnp.float32, name="head")(x)


@registry.register("model")
def cnn1d(
    num_classes: int,
    channels: Sequence[int] = (25, 25, 25),
    kernel_size: int | Sequence[int] = (5, 3, 3),
    stride: int = 2,
    padding: int = 1,
    dense: Sequence[int] = (),
    dropout: float = 0.0,
    batch_norm: bool = False,
    activation: str = "relu",
    init: _layers.InitLike = "kaiming_normal",
    bn_momentum: float = 0.9,
    bn_epsilon: float = 1e-5,
    axis_name: str | None = None,
    dtype: Literal["float32", "bfloat16"] = "float32",
) -> CNN1D:
    """A 1-D convnet; the defaults are MNIST-1D's reference CNN (Greydanus & Kobak, ~94% test accuracy).

    Three convolutions of 25 channels (kernels 5, 3, 3; stride 2; padding 1) with ReLU take a
    length-40 signal to 25 × 5 features, then a linear head.

    Args:
        num_classes: the number of logits (the engine fills it in from the dataset).
        channels: output channels of each convolution.
        kernel_size: one window size for every convolution, or one per convolution.
        stride: the stride of every convolution.
        padding: zeros added at both ends before every convolution.
        dense: hidden dense layer sizes after flattening.
        dropout: dropout rate after every conv and dense activation (training only).
        batch_norm: batch norm between each convolution and its activation.
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
        >>> model = cnn1d(10)
        >>> x = jnp.ones((3, 40))
        >>> variables = jax.eval_shape(model.init, jax.random.key(0), x)   # shapes only
        >>> jax.eval_shape(model.apply, variables, x).shape
        (3, 10)
    """
    _layers.activation(activation)
    channels = _layers.positive_ints(channels, "channels", allow_empty=False)
    if isinstance(kernel_size, int):
        kernel_size = (kernel_size,) * len(channels)
    kernel_size = _layers.positive_ints(kernel_size, "kernel_size")
    if len(kernel_size) != len(channels):
        raise registry.RegistryError(
            f"needs one size per convolution ({len(channels)}), got {len(kernel_size)}",
            argument="kernel_size",
        )
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise registry.RegistryError(f"must be an integer >= 0, got {padding!r}", argument="padding")
    return CNN1D(
        num_classes=_layers.positive_int(num_classes, "num_classes"),
        channels=channels,
        kernel_size=kernel_size,
        stride=_layers.positive_int(stride, "stride"),
        padding=padding,
        dense=_layers.positive_ints(dense, "dense"),
        dropout=_layers.rate(dropout, "dropout"),
        batch_norm=batch_norm,
        activation=activation,
        kernel_init=_layers.resolve_init(init),
        bn_momentum=bn_momentum,
        bn_epsilon=bn_epsilon,
        axis_name=axis_name,
        dtype=_layers.compute_dtype(dtype),
    )
