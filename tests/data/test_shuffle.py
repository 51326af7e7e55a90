"""`permutation` is `jax.random.permutation`, exactly: every size, seed and collision path."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tricks.data._shuffle import permutation, sort_by


@pytest.mark.parametrize("n", [0, 1, 2, 7, 1150, 70_000])  # 70000: two rounds of keys
def test_permutation_is_jax_random_permutation(n):
    fast = jax.jit(permutation, static_argnums=1)
    for seed in range(5 if n > 10_000 else 40):
        key = jax.random.fold_in(jax.random.key(seed), 17)
        np.testing.assert_array_equal(fast(key, n), jax.random.permutation(key, n), err_msg=f"n={n} seed={seed}")


def test_raw_keys_too():
    key = jax.random.PRNGKey(4)
    np.testing.assert_array_equal(permutation(key, 300), jax.random.permutation(key, 300))


def test_colliding_keys_keep_their_order():
    """The rare path: equal keys (one round in about 2^33 / n^2 draws one) sort stably."""
    rng = np.random.default_rng(0)
    for _ in range(20):
        keys = jnp.asarray(rng.integers(0, 6, size=40), jnp.uint32)  # many ties
        values = jnp.asarray(rng.permutation(40), jnp.int32)
        np.testing.assert_array_equal(sort_by(keys, values), jax.lax.sort_key_val(keys, values)[1])
    distinct = jnp.asarray(rng.permutation(1000), jnp.uint32)
    np.testing.assert_array_equal(sort_by(distinct, jnp.arange(1000, dtype=jnp.int32)), jnp.argsort(distinct))
