"""Per-layer gradient statistics, cheap enough to compute inside a jitted train step.

A *layer* is the module that holds a group of parameters: the path of a leaf minus its
last part (``Dense_0/kernel`` and ``Dense_0/bias`` belong to layer ``Dense_0``;
``stage2_block1/Conv_0/kernel`` to ``stage2_block1/Conv_0``). A layer's gradient norm is
the L2 norm over all its parameters' gradients.

The training loop logs those of each log step's gradients under ``train/grad_norm/<layer>``
(`GRAD_NORM_PREFIX`), the keys ``tricks plot grads`` reads back from ``metrics.jsonl``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

GRAD_NORM_PREFIX = "train/grad_norm/"
"""Metric-name prefix of per-layer gradient norms in ``metrics.jsonl`` and TensorBoard."""


def _layer_of(path: tuple) -> str:
    names = [str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path]
    return "/".join(names[:-1]) if len(names) > 1 else names[0]


def layer_names(params: Any) -> list[str]:
    """The layers of a parameter tree, in the order their first leaf appears.

    Examples:
        >>> layer_names({"Dense_0": {"kernel": 1, "bias": 2}, "head": {"kernel": 3}})
        ['Dense_0', 'head']
    """
    names: list[str] = []
    for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]:
        layer = _layer_of(path)
        if layer not in names:
            names.append(layer)
    return names


def per_layer_grad_norms(grads: Any) -> dict[str, jax.Array]:
    """The L2 norm of each layer's gradient (float32 scalars); jittable, all on the device.

    Args:
        grads: a gradient pytree shaped like the parameters.

    Returns:
        layer path -> norm; the same keys as `layer_names` of the parameters.

    Examples:
        >>> import jax.numpy as jnp
        >>> norms = per_layer_grad_norms({"Dense_0": {"kernel": jnp.full((2, 2), 1.0), "bias": jnp.zeros(2)},
        ...                               "head": {"kernel": jnp.array([3.0, 4.0])}})
        >>> {k: float(v) for k, v in norms.items()}
        {'Dense_0': 2.0, 'head': 5.0}
    """
    squares: dict[str, jax.Array] = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(grads)[0]:
        layer = _layer_of(path)
        total = jnp.sum(jnp.square(jnp.asarray(leaf, jnp.float32)))
        squares[layer] = squares[layer] + total if layer in squares else total
    return {layer: jnp.sqrt(value) for layer, value in squares.items()}
