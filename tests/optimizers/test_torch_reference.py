"""Our optimizers follow torch.optim's parameter trajectories (float64, 100 steps, rel. error 1e-5).

The trajectories are fixtures recorded by tools/fixtures/make_optimizer_fixtures.py (it
needs torch; these tests do not): a tiny tanh MLP fit by full-batch mean squared error.
Each case gives our spec with the torch-convention keywords where conventions differ.
"""

from __future__ import annotations

import json
import pathlib

import jax
import jax.numpy as jnp
from jax import jit
import numpy as np
import optax
import pytest

import registry
import tricks  # noqa: F401  (registers the optimizers)

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"
META = json.loads((FIXTURES / "optimizers_torch.json").read_text())
ARRAYS = dict(np.load(FIXTURES / "optimizers_torch.npz"))
TOLERANCE = 1e-5

CASES = {
    "sgd": ["sgd(learning_rate=0.1)"],
    "sgd_momentum_wd": [
        "sgd(learning_rate=0.1, momentum=0.9, weight_decay=0.01)",
        "momentum(learning_rate=0.1, momentum=0.9, weight_decay=0.01)",
    ],
    "sgd_nesterov_wd": [
        "sgd(learning_rate=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)",
        "nesterov(learning_rate=0.1, momentum=0.9, weight_decay=0.01)",
    ],
    "adagrad": ["adagrad(learning_rate=0.1, initial_accumulator_value=0.0, eps=1e-10, eps_in_sqrt=False)"],
    "rmsprop": ["rmsprop(learning_rate=0.01, decay=0.99, eps=1e-8, eps_in_sqrt=False)"],
    "rmsprop_centered": [
        "rmsprop(learning_rate=0.01, decay=0.99, eps=1e-8, eps_in_sqrt=False, centered=True)"
    ],
    "rmsprop_momentum": [
        "rmsprop(learning_rate=0.01, decay=0.99, eps=1e-8, eps_in_sqrt=False, momentum=0.9)"
    ],
    "rmsprop_centered_momentum": [
        "rmsprop(learning_rate=0.01, decay=0.99, eps=1e-8, eps_in_sqrt=False, centered=True, momentum=0.9)"
    ],
    "adadelta": ["adadelta(learning_rate=1.0, rho=0.9, eps=1e-6)"],
    "adam": ["adam(learning_rate=0.01)"],
    "adam_l2": ["adam(learning_rate=0.01, weight_decay=0.01)"],
    "adamw": ["adamw(learning_rate=0.01, weight_decay=0.1, mask='all')"],
    "amsgrad": ["amsgrad(learning_rate=0.01, max_before_correction=True)"],
    "nadam": ["nadam(learning_rate=0.005, momentum_decay=0.004)"],
    "lbfgs": [
        "lbfgs(learning_rate=0.5, memory_size=5, linesearch='none', convention='torch', tolerance_grad=0.0,"
        " tolerance_change=0.0)"
    ],
    "radam": ["radam(learning_rate=0.01, weight_decay=0.01, eps_convention='torch')"],
    "radam_decoupled": [
        "radam(learning_rate=0.01, eps=0.01, weight_decay=0.1, decoupled_weight_decay=True, eps_convention='torch')"
    ],
    "adamax": ["adamax(learning_rate=0.01, weight_decay=0.01)"],
    "adafactor": [
        "adafactor(learning_rate=0.3, weight_decay=0.1, relative_step=True, min_dim_size_to_factor=1)"
    ],
    # The fixture's muon problem has 2-D kernels only (torch's Muon takes nothing else).
    "muon": ["muon(learning_rate=0.02, weight_decay=0.1)", "muon(learning_rate=0.02, weight_decay=0.1, mask='all')"],
}

# With the default (Optax) convention these cases must leave torch's trajectory: the
# keywords above are what make them match.
OPTAX_CONVENTION = {
    "adagrad": "adagrad(learning_rate=0.1)",
    "rmsprop": "rmsprop(learning_rate=0.01, decay=0.99, eps=1e-8)",
    "amsgrad": "amsgrad(learning_rate=0.01)",
    "nadam": "nadam(learning_rate=0.005)",
    "lbfgs": "lbfgs(learning_rate=0.5, memory_size=5, linesearch='none')",
    "radam_decoupled": "radam(learning_rate=0.01, eps=0.01, weight_decay=0.1, decoupled_weight_decay=True)",
    "adafactor": "adafactor(learning_rate=0.3, weight_decay=0.1)",
}


def loss(params, x, y):
    """The fixture's MLP; the cases with their own layout (muon's) have kernels only."""
    hidden = jnp.tanh(x @ params["w1"] + params.get("b1", 0.0))
    return jnp.mean((hidden @ params["w2"] + params.get("b2", 0.0) - y) ** 2)


def run(specs: list[str], steps: int, case: str | None = None) -> list[np.ndarray]:
    """For each spec, the flattened parameters (torch's layout order) after each step.

    The specs run in one jitted function: one compilation per case.
    """
    opts = [registry.build("optimizer", spec) for spec in specs]
    x, y = jnp.asarray(ARRAYS["data/x"]), jnp.asarray(ARRAYS["data/y"])
    own = case is not None and "layout" in META["cases"][case]
    names = [name for name, _ in (META["cases"][case]["layout"] if own else META["layout"])]
    params = {name: jnp.asarray(ARRAYS[f"init/{case}/{name}" if own else f"init/{name}"]) for name in names}

    def path(opt, params):
        def step(carry, _):
            params, state = carry
            grads = jax.grad(loss)(params, x, y)
            updates, state = opt.update(grads, state, params)
            params = optax.apply_updates(params, updates)
            return (params, state), jnp.concatenate([params[name].ravel() for name in names])

        return jax.lax.scan(step, (params, opt.init(params)), length=steps)[1]

    return [np.asarray(p) for p in jit(lambda p: [path(opt, p) for opt in opts])(params)]


def relative_error(ours: np.ndarray, theirs: np.ndarray) -> float:
    """The largest, over steps, of ‖ours − theirs‖ / ‖theirs‖."""
    return float(np.max(np.linalg.norm(ours - theirs, axis=1) / np.linalg.norm(theirs, axis=1)))


def test_cases_match_the_fixture():
    assert sorted(CASES) == sorted(META["cases"])
    assert META["steps"] == 100 and META["torch_version"].startswith("2.13.0")


@pytest.mark.parametrize("case", sorted(CASES))
def test_follows_torch_trajectory(case, x64):
    """Every spec of the case follows torch; with Optax's convention (where it differs) it does not."""
    theirs = ARRAYS[f"trajectory/{case}"]
    default = [OPTAX_CONVENTION[case]] if case in OPTAX_CONVENTION else []
    paths = run(CASES[case] + default, META["steps"], case)
    for spec, path in zip(CASES[case], paths):
        assert path.dtype == np.float64
        assert relative_error(path, theirs) <= TOLERANCE, (spec, META["cases"][case])
    if default:
        assert relative_error(paths[-1], theirs) > 100 * TOLERANCE, default[0]
