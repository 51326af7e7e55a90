"""SAM and ASAM against NumPy transcriptions of their papers' algorithms and `optax.contrib.sam`,
and one short training run."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
from jax import jit
import numpy as np
import optax
import pytest

import registry
import tricks
from tricks import config as config_lib
from tricks.optimizers import hyperparams

RNG = np.random.default_rng(0)
X = RNG.normal(size=(32, 4)) * np.array([1.0, 2.0, 0.5, 1.0])
Y = np.sign(X @ np.array([1.0, -1.0, 0.5, 2.0]) + 0.3 * RNG.normal(size=32))
START = {"w": np.array([0.5, -0.3, 0.2, 0.1]), "b": np.array(0.2)}


def loss(params):
    """Logistic regression: mean log(1 + exp(−y(Xw + b)))."""
    z = jnp.asarray(X, jnp.float32) @ params["w"] + params["b"]
    return jnp.mean(jnp.logaddexp(0.0, -jnp.asarray(Y, jnp.float32) * z))


def grad_numpy(w, b):
    z = X @ w + b
    s = -Y / (1 + np.exp(Y * z)) / len(Y)  # dL/dz
    return X.T @ s, np.sum(s)


def sam_numpy(steps, lr, rho, momentum=0.0, adaptive=False, eta=0.0, weight_decay=0.0):
    """Foret et al. 2021, Algorithm 1 (p = 2): ε̂ = ρ g/‖g‖₂; g_SAM = ∇L(w + ε̂); w ← w − η g_SAM,
    here with heavy-ball momentum v ← μv + g_SAM, w ← w − ηv (μ = 0: the algorithm as printed).
    ``adaptive``: Kwon et al. 2021 (ASAM), Algorithm 1: T_w = |w| + η elementwise,
    ε = ρ T_w² g/‖T_w g‖₂ and w ← w − α(∇L(w + ε) + λw).
    Float64, the parameters as one flat vector (w then b)."""
    theta = np.concatenate([START["w"], [START["b"]]]).astype(np.float64)
    v = np.zeros_like(theta)
    out = []
    for _ in range(steps):
        gw, gb = grad_numpy(theta[:4], theta[4])
        g = np.concatenate([gw, [gb]])
        if adaptive:
            t = np.abs(theta) + eta
            eps = rho * t**2 * g / np.linalg.norm(t * g)
        else:
            eps = rho * g / np.linalg.norm(g)
        gw, gb = grad_numpy(theta[:4] + eps[:4], theta[4] + eps[4])
        g_sam = np.concatenate([gw, [gb]]) + weight_decay * theta
        v = momentum * v + g_sam
        theta = theta - lr * v
        out.append(theta.copy())
    return np.stack(out)


def run(opt, steps):
    """Our iterates (flattened as in `sam_numpy`), the objective passed as ``value_fn``."""

    def step(carry, _):
        params, state = carry
        value, grads = jax.value_and_grad(loss)(params)
        updates, state = opt.update(grads, state, params, value=value, grad=grads, value_fn=loss)
        params = optax.apply_updates(params, updates)
        return (params, state), jnp.concatenate([params["w"], params["b"][None]])

    start = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), START)
    return np.asarray(jit(lambda p: jax.lax.scan(step, (p, opt.init(p)), length=steps)[1])(start))


def test_sam_follows_algorithm_1():
    ours = run(registry.build("optimizer", "sam(sgd(learning_rate=0.5), rho=0.1)"), 20)
    np.testing.assert_allclose(ours, sam_numpy(20, lr=0.5, rho=0.1), rtol=1e-5, atol=1e-6)
    plain = run(registry.build("optimizer", "sgd(learning_rate=0.5)"), 20)
    assert np.max(np.abs(ours - plain)) > 1e-3, "the problem must tell SAM from SGD"


def test_the_wrapped_optimizer_keeps_its_state_at_w():
    ours = run(registry.build("optimizer", "sam(momentum(learning_rate=0.2, momentum=0.9), rho=0.2)"), 20)
    np.testing.assert_allclose(ours, sam_numpy(20, lr=0.2, rho=0.2, momentum=0.9), rtol=1e-5, atol=1e-6)


def test_asam_follows_kwon_et_al():
    spec = "sam(sgd(learning_rate=0.5, weight_decay=0.01), rho=0.5, adaptive=True, eta=0.01)"
    ours = run(registry.build("optimizer", spec), 20)
    expected = sam_numpy(20, lr=0.5, rho=0.5, adaptive=True, eta=0.01, weight_decay=0.01)
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)
    sam = run(registry.build("optimizer", "sam(sgd(learning_rate=0.5, weight_decay=0.01), rho=0.5)"), 20)
    assert np.max(np.abs(ours - sam)) > 1e-3, "ASAM's neighbourhood must differ from SAM's here"


def test_asam_is_invariant_to_rescaling_a_layer():
    """ASAM's point (Kwon et al., Theorem 2): with η = 0, scaling w by c and x by 1/c leaves the
    ascent step's effect on the loss unchanged: ε scales by c too."""
    from tricks.optimizers._sam import perturbation

    params = {"w": jnp.array([0.5, -0.3, 0.2, 0.1]), "b": jnp.array(0.2)}
    grads = jax.grad(loss)(params)
    scaled = {"w": 3.0 * params["w"], "b": params["b"]}
    scaled_grads = {"w": grads["w"] / 3.0, "b": grads["b"]}  # the gradient of the rescaled network
    eps = perturbation(grads, params, 0.5, True, 0.0)
    eps_scaled = perturbation(scaled_grads, scaled, 0.5, True, 0.0)
    np.testing.assert_allclose(eps_scaled["w"], 3.0 * eps["w"], rtol=1e-6)
    np.testing.assert_allclose(eps_scaled["b"], eps["b"], rtol=1e-6)
    plain = perturbation(scaled_grads, scaled, 0.5, False, 0.0)
    assert not np.allclose(plain["w"], 3.0 * perturbation(grads, params, 0.5, False, 0.0)["w"], rtol=1e-3)


def optax_sam(inner, rho):
    """`optax.contrib.sam` set up as SAM's Algorithm 1: ``opaque_mode=True`` runs the ascent step
    and the outer step in one ``update``; ``sync_period=2`` is one ascent step; the ascent
    optimizer ``chain(normalize(), sgd(rho))`` moves by ρ·g/‖g‖. Its ``update`` takes a
    ``grad_fn(params, i)``; this adapter builds it from ``value_fn``."""
    sam = optax.contrib.sam(
        inner, optax.chain(optax.contrib.normalize(), optax.sgd(rho)), sync_period=2, opaque_mode=True
    )

    def update(updates, state, params=None, *, value_fn, **extra):
        del extra
        return sam.update(updates, state, params, grad_fn=lambda p, _: jax.grad(value_fn)(p))

    return optax.GradientTransformationExtraArgs(sam.init, update)


def test_sam_equals_optax_contrib_sam_in_opaque_mode():
    ours = run(registry.build("optimizer", "sam(adam(learning_rate=0.05), rho=0.1)"), 20)
    theirs = run(optax_sam(optax.adam(0.05), 0.1), 20)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_optax_transparent_mode_takes_two_calls_per_sam_step():
    """The difference from Optax's default (``opaque_mode=False``): its first call returns the
    ascent step itself (the loop then holds w + ε and computes the gradient there), its second
    returns the outer update from w. Two of its calls make one of ours."""
    sam = optax.contrib.sam(optax.adam(0.05), optax.chain(optax.contrib.normalize(), optax.sgd(0.1)), sync_period=2)
    transparent = optax.GradientTransformationExtraArgs(sam.init, lambda u, s, p, **extra: sam.update(u, s, p))
    ours = run(registry.build("optimizer", "sam(adam(learning_rate=0.05), rho=0.1)"), 10)
    theirs = run(transparent, 20)
    np.testing.assert_allclose(ours, theirs[1::2], rtol=1e-5, atol=1e-6)
    assert np.max(np.abs(theirs[0::2] - theirs[1::2])) > 1e-3  # its odd calls stand at w + ε


def test_rho_zero_is_the_wrapped_optimizer():
    ours = run(registry.build("optimizer", "sam(adam(learning_rate=0.05), rho=0.0)"), 10)
    np.testing.assert_array_equal(ours, run(registry.build("optimizer", "adam(learning_rate=0.05)"), 10))


def test_a_zero_gradient_is_not_perturbed():
    opt = registry.build("optimizer", "sam(sgd(learning_rate=1.0), rho=0.1)")
    params = {"w": jnp.zeros(2)}
    updates, _ = opt.update({"w": jnp.zeros(2)}, opt.init(params), params, value_fn=lambda p: jnp.sum(p["w"] ** 2))
    np.testing.assert_array_equal(updates["w"], np.zeros(2))


def test_without_value_fn_or_params_it_says_what_is_missing():
    opt = registry.build("optimizer", "sam(adam())")
    params = {"w": jnp.ones(2)}
    state = opt.init(params)
    with pytest.raises(ValueError, match="sam needs the objective.*value_fn=loss"):
        opt.update({"w": jnp.ones(2)}, state, params)
    with pytest.raises(ValueError, match="sam needs the parameters"):
        opt.update({"w": jnp.ones(2)}, state, value_fn=lambda p: jnp.sum(p["w"]))


def test_state_is_the_wrapped_optimizers():
    opt = registry.build("optimizer", "sam(adamw(learning_rate=0.01, weight_decay=0.1), rho=0.05)")
    assert sorted(hyperparams(opt.init({"kernel": jnp.ones((2, 2))}))) == ["b1", "learning_rate", "weight_decay"]


def test_bad_arguments_name_the_argument():
    for spec, argument in [("sam(adam(), rho=-0.1)", "rho"), ("sam(adam(), adaptive=True, eta=-1.0)", "eta")]:
        with pytest.raises(registry.RegistryError) as info:
            registry.build("optimizer", spec)
        assert info.value.argument == argument


DIGITS = pathlib.Path(__file__).parents[2] / "experiments" / "configs" / "digits.py"


def smoke_losses(optimizer: str, workdir: pathlib.Path) -> list[float]:
    cfg = config_lib.load(f"{DIGITS}:smoke", ["--config.progress=false"])
    cfg.optimizer, cfg.eval_splits, cfg.train_metrics = optimizer, ["validation"], ["loss"]  # kept short
    tricks.train.train_and_evaluate(cfg, workdir)
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    return [r["train/loss"] for r in records if "train/loss" in r]


def test_sam_trains_the_digits_smoke_config(tmp_path, shared_data_dir):
    """Through `tricks.train`: the training step hands SAM the batch's objective."""
    sam = smoke_losses("sam(adam(learning_rate=1e-3), rho=0.05)", tmp_path / "sam")
    adam = smoke_losses("adam(learning_rate=1e-3)", tmp_path / "adam")
    assert len(sam) == len(adam) >= 2 and all(np.isfinite(sam))
    assert sam[0] == pytest.approx(adam[0], rel=0.05)  # the same start
    assert sam != adam, "SAM's trajectory must differ from plain Adam's"


PMAP_SCRIPT = """
import json, pathlib, sys, tempfile
import tricks
from tricks import config as config_lib
out = {}
for parallel in ("sharded", "pmap"):
    cfg = config_lib.load(sys.argv[1] + ":smoke", ["--config.progress=false"])
    cfg.optimizer, cfg.parallel = "sam(adam(learning_rate=1e-2), rho=0.5)", parallel
    cfg.model = "mlp(widths=(32,), dropout=0.0)"
    cfg.eval_splits, cfg.train_metrics = ["validation"], ["loss", "param_norm"]
    workdir = pathlib.Path(tempfile.mkdtemp())
    tricks.train.train_and_evaluate(cfg, workdir)
    records = map(json.loads, (workdir / "metrics.jsonl").read_text().splitlines())
    out[parallel] = [r for r in records if "train/loss" in r]
print(json.dumps(out))
"""


def test_pmap_takes_the_second_gradient_of_the_whole_batch(shared_data_dir):
    """Under ``parallel=pmap`` on 2 devices SAM trains as under ``sharded``: its second gradient,
    ``jax.grad(value_fn)``, is averaged over the devices (JAX alone would give each device its own)."""
    session = os.environ.get("XLA_FLAGS", "")
    env = {k: v for k, v in os.environ.items() if not k.startswith("XLA_")}
    env.update(XLA_FLAGS=f"{session} --xla_force_host_platform_device_count=2".strip(), JAX_PLATFORMS="cpu",
               PYTHONPATH=str(pathlib.Path(__file__).parents[2]))
    done = subprocess.run([sys.executable, "-c", PMAP_SCRIPT, str(DIGITS)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(runs["pmap"]) == len(runs["sharded"]) >= 2
    for sharded, pmap in zip(runs["sharded"], runs["pmap"], strict=True):
        for key in ("train/loss", "train/param_norm"):
            assert pmap[key] == pytest.approx(sharded[key], rel=1e-5), key
