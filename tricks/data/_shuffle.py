"""`permutation`: `jax.random.permutation`'s exact result, a few times faster on CPU."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def permutation(key: jax.Array, n: int) -> jax.Array:
    """``jax.random.permutation(key, n)``, the same int32 array, with cheaper sorts.

    JAX shuffles by sorting ``arange(n)`` by random 32-bit keys, in as many rounds as
    make collisions unlikely. XLA:CPU sorts a key-value pair several times slower than a
    lone array of keys, so each round here sorts the keys alone and places every value at
    its key's rank (a binary search); when two keys collide (probability about
    n^2 / 2^33 per round) that round takes JAX's own stable key-value sort. Measured on 2
    CPU cores: 136 us against 389 us for n=1150, 8.7 ms against 36 ms for n=54000.

    Args:
        key: a typed or raw PRNG key.
        n: the permutation's length (static).

    Examples:
        >>> key = jax.random.key(3)
        >>> bool((permutation(key, 1000) == jax.random.permutation(key, 1000)).all())
        True
    """
    values = jnp.arange(n, dtype=jnp.int32)
    rounds = int(np.ceil(3 * np.log(max(1, n)) / np.log(np.iinfo(np.uint32).max)))  # as JAX's `_shuffle`
    for _ in range(rounds):
        key, subkey = jax.random.split(key)
        values = sort_by(jax.random.bits(subkey, (n,), jnp.uint32), values)
    return values


def sort_by(keys: jax.Array, values: jax.Array) -> jax.Array:
    """`values` (1-D) in the order of `keys` (uint32), ties in their original order:
    ``jax.lax.sort_key_val(keys, values)[1]``.

    Examples:
        >>> keys = jnp.array([5, 3, 5, 1, 3], jnp.uint32)
        >>> sort_by(keys, jnp.arange(5, dtype=jnp.int32)).tolist()
        [3, 1, 4, 0, 2]
    """
    ordered = jnp.sort(keys)

    def by_rank(_):
        rank = jnp.searchsorted(ordered, keys, side="left").astype(jnp.int32)
        return jnp.zeros_like(values).at[rank].set(values, unique_indices=True)

    def stable(_):
        return jax.lax.sort_key_val(keys, values)[1]

    return jax.lax.cond(jnp.any(ordered[1:] == ordered[:-1]), stable, by_rank, None)
