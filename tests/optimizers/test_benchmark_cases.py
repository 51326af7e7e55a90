"""The optimizer benchmark compares like with like: each registered optimizer and its
hand-written Optax chain follow the same parameter trajectory (on a small pytree)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import jit
import numpy as np
import optax
import pytest

import registry
import tricks  # noqa: F401  (registers the optimizers)
from tools.benchmarks import optimizers as bench

CASES = bench.cases()


def test_every_registered_optimizer_has_a_case():
    missing = sorted(set(registry.names("optimizer")) - set(CASES))
    assert not missing, f"add a case to tools/benchmarks/optimizers.py for {missing}"


STEPS = 6  # past accumulate's and lookahead's periods


@pytest.mark.parametrize("name", [n for n in registry.names("optimizer") if n in CASES])
def test_ours_and_the_raw_chain_agree(name):
    case = CASES[name]
    ours, raw = registry.build("optimizer", case.spec), case.raw()
    fixed_grads = bench.pytree(2, 4, seed=1)

    def extra(params, grads):
        if not case.line_search:
            return {}
        return {"value": bench.value_fn(params), "grad": grads, "value_fn": bench.value_fn}

    def step(carry, _):
        params, raw_params, ours_state, raw_state = carry
        # Line searches get the true gradient of the objective they evaluate.
        grads = jax.grad(bench.value_fn)(params) if case.line_search else fixed_grads
        updates, ours_state = ours.update(grads, ours_state, params, **extra(params, grads))
        raw_updates, raw_state = raw.update(grads, raw_state, raw_params, **extra(params, grads))
        params = optax.apply_updates(params, updates)
        raw_params = optax.apply_updates(raw_params, raw_updates)
        size = jnp.max(jnp.stack([jnp.max(jnp.abs(u)) for u in jax.tree.leaves(updates)]))
        return (params, raw_params, ours_state, raw_state), (params, case.raw_view(raw_params), size)

    @jit
    def run(params):
        raw_params = case.raw_params(params)
        carry = (params, raw_params, ours.init(params), raw.init(raw_params))
        return jax.lax.scan(step, carry, length=STEPS)[1]

    ours_path, raw_path, sizes = run(bench.pytree(2, 4))
    for a, b in zip(jax.tree.leaves(ours_path), jax.tree.leaves(raw_path)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert float(sizes.max()) > 1e-5
