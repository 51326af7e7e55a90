"""Schedule-free SGD and AdamW: Optax's trajectories, evaluation at x, and the engine's use of it."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import pytest

import registry
import tricks  # noqa: F401  (registers the optimizers)
from tricks import optimizers, train
from tricks.train._evaluate import evaluate
from tricks.train._step import make_eval_step

START = {"kernel": jnp.array([[1.0, -2.0], [3.0, 0.5]]), "bias": jnp.array([0.3, -0.2])}
TARGET = jnp.array([[0.5, 1.0], [-1.5, 2.0]])


def loss(params):
    return jnp.sum(jnp.array([[10.0, 20.0], [5.0, 15.0]]) * (params["kernel"] - TARGET) ** 2) + jnp.sum(
        jnp.sin(params["bias"]) ** 2)


def trajectory(opt, steps=40):
    """Each step's parameters y and evaluation parameters x (Optax's `schedule_free_eval_params`)."""
    params, state, ys, xs = START, opt.init(START), [], []
    for _ in range(steps):
        updates, state = opt.update(jax.grad(loss)(params), state, params)
        params = optax.apply_updates(params, updates)
        sf = optimizers.find_state(state, optax.contrib.ScheduleFreeState)
        ys.append(params)
        xs.append(optax.contrib.schedule_free_eval_params(sf, params))
    return ys, xs, state


CASES = [
    ("schedule_free_sgd(learning_rate=0.01)", lambda: optax.contrib.schedule_free_sgd(0.01)),
    ("schedule_free_sgd(learning_rate=0.02, warmup_steps=10, b1=0.8, weight_decay=0.01, weight_lr_power=1.0)",
     lambda: optax.contrib.schedule_free_sgd(0.02, warmup_steps=10, b1=0.8, weight_decay=0.01, weight_lr_power=1.0)),
    ("schedule_free_adamw(learning_rate=0.05)", lambda: optax.contrib.schedule_free_adamw(0.05)),
    ("schedule_free_adamw(learning_rate=0.05, warmup_steps=5, b1=0.95, b2=0.99, eps=1e-6, weight_decay=0.1)",
     lambda: optax.contrib.schedule_free_adamw(0.05, warmup_steps=5, b1=0.95, b2=0.99, eps=1e-6,
                                               weight_decay=0.1)),
]


@pytest.mark.parametrize("spec, reference", CASES)
def test_trajectories_match_optax(spec, reference):
    ours_y, ours_x, state = trajectory(registry.build("optimizer", spec))
    theirs_y, theirs_x, _ = trajectory(reference())
    for a, b in zip(jax.tree.leaves((ours_y, ours_x)), jax.tree.leaves((theirs_y, theirs_x)), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert "learning_rate" in optimizers.hyperparams(state)
    # x is not y: evaluating at y would be another point
    assert not np.allclose(ours_x[-1]["kernel"], ours_y[-1]["kernel"])
    assert float(loss(ours_x[-1])) < float(loss(START))


def test_schedule_free_params_finds_the_state_inside_wrappers():
    opt = registry.build("optimizer", "clip_by_global_norm(schedule_free_adamw(learning_rate=0.05), max_norm=1.0)")
    params, state = START, opt.init(START)
    for _ in range(3):
        updates, state = opt.update(jax.grad(loss)(params), state, params)
        params = optax.apply_updates(params, updates)
    x = optimizers.schedule_free_params(state, params)
    expected = optax.contrib.schedule_free_eval_params(optimizers.find_state(state, optimizers.ScheduleFreeState),
                                                       params)
    assert jax.tree.map(lambda a, b: bool(jnp.all(a == b)), x, expected) == {"kernel": True, "bias": True}
    assert optimizers.is_schedule_free(state)
    adam = registry.build("optimizer", "adam").init(START)
    assert not optimizers.is_schedule_free(adam) and optimizers.schedule_free_params(adam, START) is START


@pytest.mark.parametrize("spec", ["schedule_free_sgd(b1=1.0)", "schedule_free_adamw(b1=0.0)",
                                  "schedule_free_adamw(learning_rate=-1.0)", "schedule_free_sgd(warmup_steps=-2)"])
def test_bad_arguments_are_refused(spec):
    with pytest.raises(registry.RegistryError):
        registry.build("optimizer", spec)


def _config():
    cfg = train.default_config()
    cfg.optimizer = "schedule_free_adamw(learning_rate=0.01, warmup_steps=5)"
    cfg.num_steps, cfg.eval_every, cfg.progress = 30, 30, False
    return cfg


def test_a_run_is_evaluated_at_x(tmp_path):
    """The recorded evaluation equals one computed here from the checkpoint at x, and
    differs from the evaluation at y (the parameters the optimizer moves)."""
    summary = train.train_and_evaluate(_config(), tmp_path)
    run = train.setup(_config())
    raw, _ = train.Checkpoints(tmp_path, read_only=True).restore(30, run.state)
    sf = optimizers.find_state(raw.opt_state, optax.contrib.ScheduleFreeState)
    at_x = raw.replace(params=optax.contrib.schedule_free_eval_params(sf, raw.params))
    eval_step = jax.jit(make_eval_step(run.components.model, run.components.num_classes, run.components.augment))
    for split, loader in run.eval_loaders.items():
        mine_x = evaluate(eval_step, at_x, loader.eval_batches())
        mine_y = evaluate(eval_step, raw, loader.eval_batches())
        assert summary["splits"][split]["loss"] == pytest.approx(mine_x["loss"], rel=1e-6)
        assert summary["splits"][split]["accuracy"] == mine_x["accuracy"]
        assert abs(mine_y["loss"] - mine_x["loss"]) > 1e-3
    record = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()][-1]
    assert record["eval/test/loss"] == pytest.approx(summary["splits"]["test"]["loss"])
    loaded = train.load(tmp_path)  # loading, prediction and ensembles read x too
    for a, b in zip(jax.tree.leaves(loaded.params), jax.tree.leaves(at_x.params), strict=True):
        np.testing.assert_array_equal(a, b)
    assert jax.tree.map(jnp.shape, train.evaluation_params(raw)) == jax.tree.map(jnp.shape, raw.params)


def test_the_moving_average_averages_x():
    cfg = _config()
    cfg.ema_decay = 0.5
    run = train.setup(cfg)
    state = run.state
    expected = jax.device_get(train.evaluation_params(state))
    for t in range(4):
        state, _ = run.train_step(state, run.loader.batch(t))
        x = jax.device_get(train.evaluation_params(state))
        expected = jax.tree.map(lambda e, v: 0.5 * e + 0.5 * v, expected, x)
    flat = lambda tree: np.concatenate([np.ravel(v) for v in jax.tree.leaves(tree)])  # noqa: E731
    assert not np.allclose(flat(x), flat(jax.device_get(state.params)))  # x is not y
    for a, b in zip(jax.tree.leaves(jax.device_get(state.ema["params"])), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
