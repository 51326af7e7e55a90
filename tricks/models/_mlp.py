"""A multi-layer perceptron with optional batch norm and dropout."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import flax.linen as nn
import jax
import jax.numpy as jnp

import registry
from tricks.models import _layers


class MLP(nn.Module):
    """Flatten, then per hidden width: Dense → [BatchNorm] → activation → [Dropout]; then a Dense head.

    Parameters are named ``Dense_0 ... Dense_{L-1}`` (hidden layers), ``BatchNorm_i`` and
    ``head``. Each hidden activation (after the nonlinearity, before dropout) is sown into
    the ``intermediates`` collection as ``Dense_i_activation``.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> model = MLP(num_classes=3, widths=(8,))
        >>> variables = jax.eval_shape(model.init, jax.random.key(0), jnp.ones((2, 5)))   # shapes only
        >>> sorted(variables["params"])
        ['Dense_0', 'head']
    """

    num_classes: int
    widths: tuple[int, ...] = (128,)
    activation: str = "relu"
    dropout: float = 0.0
    batch_norm: bool = False
    kernel_init: Callable = nn.initializers.lecun_normal()
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    axis_name: str | None = None
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        act = _layers.activation(self.activation)
        x = x.reshape(x.shape[0], -1)
        for i, width in enumerate(self.widths):
            x = nn.Dense(
                width, use_bias=not self.batch_norm, kernel_init=self.kernel_init, dtype=self.dtype, name=f"Dense_{i}"
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
            self.sow("intermediates", f"Dense_{i}_activation", x)
            if self.dropout > 0:
                x = _layers.Dropout(self.dropout)(x, deterministic=not train)
        return nn.Dense(self.num_classes, kernel_init=self.kernel_init, dtype=jnp.float32, name="head")(x)


@registry.register("model")
def mlp(
    num_classes: int,
    widths: Sequence[int] = (256, 256),
    activation: str = "relu",
    dropout: float = 0.0,
    batch_norm: bool = False,
    init: _layers.InitLike = "kaiming_normal",
    bn_momentum: float = 0.9,
    bn_epsilon: float = 1e-5,
    axis_name: str | None = None,
    dtype: Literal["float32", "bfloat16"] = "float32",
) -> MLP:
    """A multi-layer perceptron: hidden `widths`, then a linear head of `num_classes` logits.

    Args:
        num_classes: the number of logits (the engine fills it in from the dataset).
        widths: hidden layer sizes; ``()`` gives logistic regression.
        activation: one of relu, tanh, sigmoid, gelu, silu, elu, selu, leaky_relu,
            softplus, identity.
        dropout: dropout rate after every hidden activation (training only).
        batch_norm: batch norm between each hidden Dense and its activation.
        init: the kernel initializer of every Dense layer (head included); biases are 0.
        bn_momentum: running-average momentum of batch norm (Flax convention: the weight of
            the old average; torch's momentum 0.1 is 0.9 here).
        bn_epsilon: batch norm's variance epsilon.
        axis_name: the mapped axis over which batch statistics are averaged (data-parallel
            `pmap`; the engine sets it); None for one device or `jax.jit` sharding.
        dtype: the compute dtype ('float32' or 'bfloat16', the config's ``precision``):
            layers compute in it; parameters, batch-norm statistics and logits stay float32.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> model = mlp(10, widths=[32] * 10, activation="tanh", init="xavier_normal")
        >>> x = jnp.ones((4, 28, 28, 1))
        >>> variables = jax.eval_shape(model.init, jax.random.key(0), x)   # shapes only
        >>> logits, state = jax.eval_shape(lambda v: model.apply(v, x, mutable=["intermediates"]), variables)
        >>> logits.shape, len(state["intermediates"]), state["intermediates"]["Dense_9_activation"][0].shape
        ((4, 10), 10, (4, 32))
    """
    _layers.activation(activation)
    return MLP(
        num_classes=_layers.positive_int(num_classes, "num_classes"),
        widths=_layers.positive_ints(widths, "widths"),
        activation=activation,
        dropout=_layers.rate(dropout, "dropout"),
        batch_norm=batch_norm,
        kernel_init=_layers.resolve_init(init),
        bn_momentum=bn_momentum,
        bn_epsilon=bn_epsilon,
        axis_name=axis_name,
        dtype=_layers.compute_dtype(dtype),
    )
