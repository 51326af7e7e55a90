"""Tests generated from the registry: every registered optimizer and wrapper, no exceptions.

A name registered without an entry in `EXAMPLES` fails `test_every_name_has_an_example`,
so a new optimizer cannot skip the tests below.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
from jax import jit
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest

import registry
import tricks  # noqa: F401  (registers the optimizers)
from tricks.optimizers import InjectState, hyperparams

from tests.schedules.examples import STEP_FUNCTIONS


@dataclasses.dataclass(frozen=True)
class Example:
    """A spec that converges on both test problems in `steps` steps."""

    spec: str
    steps: int = 2000
    rosenbrock_max: float = 0.5


EXAMPLES = {
    "sgd": Example("sgd(learning_rate=1e-3)"),
    "momentum": Example("momentum(learning_rate=1e-3, momentum=0.9)"),
    "nesterov": Example("nesterov(learning_rate=1e-3, momentum=0.9)"),
    "sgdw": Example("sgdw(learning_rate=1e-3, momentum=0.9, weight_decay=1e-4)"),
    "adagrad": Example("adagrad(learning_rate=0.5)"),
    "rmsprop": Example("rmsprop(learning_rate=0.01, momentum=0.5, weight_decay=1e-5)"),
    # Adadelta crawls along Rosenbrock's valley: a looser bound.
    "adadelta": Example("adadelta(learning_rate=3.0)", rosenbrock_max=1.0),
    "adam": Example("adam(learning_rate=0.05)"),
    "amsgrad": Example("amsgrad(learning_rate=0.1)"),
    "nadam": Example("nadam(learning_rate=0.05)"),
    "adamw": Example("adamw(learning_rate=0.05, weight_decay=1e-4)"),
    "swats": Example("swats(learning_rate=0.05)"),
    "adabound": Example("adabound(learning_rate=0.05, final_lr=0.001)"),
    "amsbound": Example("amsbound(learning_rate=0.05, final_lr=0.001)"),
    "lbfgs": Example("lbfgs(memory_size=5)", steps=50),
    "lars": Example("lars(learning_rate=1.0, trust_coefficient=0.02, mask='all')"),
    "lamb": Example("lamb(learning_rate=0.02)"),
    "clip_by_global_norm": Example("clip_by_global_norm(adam(learning_rate=0.05), max_norm=1.0)"),
    "clip_by_value": Example("clip_by_value(adam(learning_rate=0.05), max_delta=1.0)"),
    "accumulate": Example("accumulate(adam(learning_rate=0.05), every_k=2)"),
    "skip_nonfinite": Example("skip_nonfinite(adam(learning_rate=0.05))"),
    "weight_decay": Example("weight_decay(adam(learning_rate=0.05), weight_decay=1e-4)"),
    "group_lr": Example("group_lr(adam(learning_rate=0.05), multipliers={'bias': 0.5})"),
    "freeze": Example("freeze(adam(learning_rate=0.05), patterns=['bias'])"),
    "lookahead": Example("lookahead(adam(learning_rate=0.05), sync_period=5, slow_step_size=0.5)"),
    "on_plateau": Example("on_plateau(adam(learning_rate=0.05), reduce_on_plateau(patience=3))"),
    # RAdam's first steps are un-normalized momentum steps α m̂: a small α on Rosenbrock.
    "radam": Example("radam(learning_rate=0.005)", steps=3000),
    "adamax": Example("adamax(learning_rate=0.05)"),
    "adafactor": Example("adafactor(learning_rate=0.1, relative_step=True, min_dim_size_to_factor=1)"),
    # Muon's steps have a fixed size (orthogonalized): a decaying rate to converge.
    "muon": Example("muon(learning_rate=cosine(init_value=0.05, decay_steps=2000))"),
    "lion": Example("lion(learning_rate=3e-3, weight_decay=0.0)"),
    "adabelief": Example("adabelief(learning_rate=0.05)"),
    "yogi": Example("yogi(learning_rate=0.05)"),
    "adan": Example("adan(learning_rate=0.05)"),
    "prodigy": Example("prodigy()"),
    "adopt": Example("adopt(learning_rate=0.1)"),
    # The registry tests pass the objective (value_fn) that SAM's second gradient needs.
    "sam": Example("sam(adam(learning_rate=0.05), rho=0.01)"),
    "schedule_free_sgd": Example("schedule_free_sgd(learning_rate=1e-3)"),
    "schedule_free_adamw": Example("schedule_free_adamw(learning_rate=0.05)"),
}

NAMES = registry.names("optimizer")

# Both problems hold a "bias" already at its optimum, so freezing it still converges.
BIAS = jnp.array([0.3, -0.2])
TARGET = jnp.array([[0.5, 1.0], [-1.5, 2.0]])
CURVATURE = jnp.array([[10.0, 20.0], [5.0, 15.0]])
PARABOLA_START = {"kernel": jnp.array([[1.0, -2.0], [3.0, 0.5]]), "bias": BIAS}
ROSENBROCK_START = {"kernel": jnp.array([[-1.2, 1.0]]), "bias": BIAS}


def parabola(params):
    return jnp.sum(CURVATURE * (params["kernel"] - TARGET) ** 2) + jnp.sum((params["bias"] - BIAS) ** 2)


def rosenbrock(params):
    x, y = params["kernel"][0, 0], params["kernel"][0, 1]
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2 + jnp.sum((params["bias"] - BIAS) ** 2)


PROBLEMS = {"parabola": (parabola, PARABOLA_START), "rosenbrock": (rosenbrock, ROSENBROCK_START)}


def build(name: str) -> optax.GradientTransformationExtraArgs:
    return registry.build("optimizer", EXAMPLES[name].spec)


def step_fn(opt, loss):
    """One full-batch step; the extra arguments serve line-search optimizers, the others ignore them.

    Under `jax.lax.scan` the state's types must stay those of ``init`` (or scan raises),
    and the updates' dtypes are checked while tracing.
    """

    def step(params, state):
        value, grad = jax.value_and_grad(loss)(params)
        updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=loss)
        assert jax.tree.map(lambda u: u.dtype, updates) == jax.tree.map(lambda p: p.dtype, params)
        return optax.apply_updates(params, updates), state

    return step


@functools.cache
def minimize_both(name: str) -> dict[str, tuple[float, optax.OptState]]:
    """Problem -> final loss and optimizer state, both runs in one jitted function (one
    compilation; cached: the two convergence tests and the Orbax test share it)."""
    opt, steps = build(name), EXAMPLES[name].steps

    def run(loss, params):
        step = step_fn(opt, loss)
        init = (params, opt.init(params))
        (params, state), _ = jax.lax.scan(lambda c, _: (step(*c), None), init, length=steps)
        return loss(params), state

    results = jit(lambda starts: {k: run(PROBLEMS[k][0], p) for k, p in starts.items()})(
        {k: start for k, (_, start) in PROBLEMS.items()}
    )
    return {k: (float(value), state) for k, (value, state) in results.items()}


def minimize(name: str, problem: str) -> tuple[float, optax.OptState]:
    """The final loss and optimizer state of `name`'s example run on `problem`."""
    return minimize_both(name)[problem]


def test_every_name_has_an_example():
    missing = sorted(set(NAMES) - set(EXAMPLES))
    assert not missing, f"add an entry to EXAMPLES for each registered optimizer: {missing}"


@pytest.mark.parametrize("name", NAMES)
def test_example_builds_that_component(name):
    assert registry.parse(EXAMPLES[name].spec).name == name
    assert isinstance(build(name), optax.GradientTransformation)


@pytest.mark.parametrize("name", NAMES)
def test_converges_on_a_parabola(name):
    start = float(parabola(PARABOLA_START))
    assert minimize(name, "parabola")[0] <= 1e-3 * start


@pytest.mark.parametrize("name", NAMES)
def test_converges_on_rosenbrock(name):
    assert float(rosenbrock(ROSENBROCK_START)) == pytest.approx(24.2)
    assert minimize(name, "rosenbrock")[0] <= EXAMPLES[name].rosenbrock_max


def same_bits(a, b) -> bool:
    """The same tree of arrays: types (weak types included) and values, bit for bit."""
    pairs = list(zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))
    return jax.tree.structure(a) == jax.tree.structure(b) and all(
        jax.typeof(x) == jax.typeof(y) and np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True)
        for x, y in pairs)


def assert_jitted_init_is_init(opt, params):
    """`tricks.train.create_state` jits ``optimizer.init`` (one program, not one per
    operation): its state is eager ``init``'s, bit for bit, but for the hyperparameters
    that `tricks.optimizers.inject` evaluates at step 0 (XLA may fold those constants
    with other roundings: the tanh schedule's under the suite's compile flags), which
    each update computes afresh from the step count; so after one update the states are
    the same bits."""
    jitted, eager = jax.jit(opt.init)(params), opt.init(params)
    injected = lambda state: isinstance(state, InjectState)  # noqa: E731
    hyper = lambda state: [  # noqa: E731
        s.hyperparams for s in jax.tree.leaves(state, is_leaf=injected) if injected(s)]
    no_hyper = lambda state: jax.tree.map(  # noqa: E731
        lambda s: s._replace(hyperparams={}) if injected(s) else s, state, is_leaf=injected)
    assert same_bits(no_hyper(jitted), no_hyper(eager))
    for found, expected in zip(hyper(jitted), hyper(eager), strict=True):
        jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-6), found, expected)
    grads = jax.tree.map(lambda p: jnp.full_like(p, 0.25), params)
    update = jax.jit(lambda state: opt.update(grads, state, params, value=jnp.float32(1.0), grad=grads,
                                              value_fn=lambda p: jnp.float32(1.0)))
    assert same_bits(update(jitted), update(eager))


@pytest.mark.parametrize("name", NAMES)
def test_jitted_init_is_init(name):
    kernel = jnp.asarray(np.random.default_rng(0).normal(size=(8, 3)), jnp.float32)
    assert_jitted_init_is_init(build(name), {"kernel": kernel, "bias": jnp.zeros(3)})


@pytest.mark.parametrize("name", sorted(STEP_FUNCTIONS))
def test_jitted_init_is_init_with_each_schedule(name):
    """The same with every schedule as a learning rate, and warmed up."""
    spec = STEP_FUNCTIONS[name][0]
    for wrapped in (f"sgd(learning_rate={spec})", f"adamw(learning_rate=warmup({spec}, warmup_steps=10))"):
        assert_jitted_init_is_init(registry.build("optimizer", wrapped), {"kernel": jnp.ones((4, 3)),
                                                                           "bias": jnp.zeros(3)})


@pytest.mark.parametrize("name", NAMES)
def test_jitted_update_compiles_once_and_keeps_bfloat16(name):
    """The second jitted update does not retrace, the state can be donated (no buffer
    twice in it), and bfloat16 parameters get finite bfloat16 updates. (float32: the
    convergence tests run float32 parameters through a jitted scan, which fixes the
    state's types, and check the updates' dtypes.)"""
    opt, dtype = build(name), jnp.bfloat16
    params = jax.tree.map(lambda x: x.astype(dtype), PARABOLA_START)
    traces = []

    def update(grad, state, params, value):
        traces.append(1)
        return opt.update(grad, state, params, value=value, grad=grad, value_fn=parabola)

    jitted = jit(update, donate_argnums=1)  # as a training step donates its state
    state = opt.init(params)
    state_types = jax.tree.map(lambda x: (x.shape, x.dtype), state)
    for _ in range(3):
        value, grad = jax.value_and_grad(parabola)(params)
        updates, state = jitted(grad, state, params, value)
        assert jax.tree.map(lambda u: u.dtype, updates) == jax.tree.map(lambda p: p.dtype, params)
        assert all(bool(jnp.all(jnp.isfinite(u))) for u in jax.tree.leaves(updates))
        params = optax.apply_updates(params, updates)
    assert len(traces) == 1, "the second update retraced"
    assert jax.tree.map(lambda x: (x.shape, x.dtype), state) == state_types
    assert jax.tree.map(lambda p: p.dtype, params) == {"kernel": dtype, "bias": dtype}


@pytest.mark.parametrize("name", NAMES)
def test_state_survives_orbax_bit_for_bit(name, tmp_path):
    _, state = minimize(name, "parabola")  # the state after a whole run
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(tmp_path / "state", state)
    checkpointer.wait_until_finished()
    restored = checkpointer.restore(tmp_path / "state", jax.tree.map(ocp.utils.to_shape_dtype_struct, state))
    assert jax.tree.structure(restored) == jax.tree.structure(state)
    for old, new in zip(jax.tree.leaves(state), jax.tree.leaves(restored)):
        assert (old.dtype, old.shape) == (new.dtype, new.shape)
        assert np.asarray(new).tobytes() == np.asarray(old).tobytes()
    assert hyperparams(restored) == hyperparams(state)
    assert not [p for p in tmp_path.rglob("*") if p.suffix in (".pkl", ".pickle")]


@pytest.mark.parametrize("name", NAMES)
def test_learning_rate_is_in_the_state(name):
    found = hyperparams(build(name).init(PARABOLA_START))
    assert any(key.endswith("learning_rate") for key in found), found


# Bad values for arguments that several optimizers share: each optimizer having the
# argument must reject each value, naming the argument.
SHARED_BAD = {
    "learning_rate": [-0.1, float("nan")],
    "b1": [1.0, -0.1],
    "b2": [1.0, 1.5],
    "eps": [0.0, -1e-8],
    "momentum": [1.0],
    "weight_decay": [-1e-4],
    "decay": [1.0],
    "rho": [-0.5],
}
# Arguments of the wrappers, and other per-optimizer arguments.
OWN_BAD = {
    "clip_by_global_norm": [("max_norm", 0.0)],
    "clip_by_value": [("max_delta", -1.0)],
    "accumulate": [("every_k", 0)],
    "skip_nonfinite": [("optimizer", "adamm()")],
    "weight_decay": [("mask", "(")],
    "group_lr": [("multipliers", {"bias": -1.0}), ("multipliers", {"[": 1.0})],
    "freeze": [("patterns", ["(bias"])],
    "lookahead": [("sync_period", 0), ("slow_step_size", 0.0)],
    "lbfgs": [("memory_size", 0)],
    "adamw": [("mask", "("), ("eps_convention", "torch")],
    "adabound": [("final_lr", 0.0), ("gamma", -1.0)],
    "adagrad": [("initial_accumulator_value", -0.1)],
    "lars": [("trust_coefficient", 0.0)],
    "swats": [("switch_eps", 0.0)],
    "schedule_free_sgd": [("b1", 0.0), ("warmup_steps", -1), ("weight_lr_power", -1.0)],
    "schedule_free_adamw": [("b1", 0.0), ("weight_decay", -1e-4)],
    "sgd": [("nesterov", True)],  # nesterov without momentum
    "on_plateau": [("plateau", "reduce_on_plateau(factor=2.0)")],
    "radam": [("threshold", 3.0), ("eps_convention", "keras")],
    "adafactor": [("decay_rate", 0.0), ("clipping_threshold", 0.5), ("min_dim_size_to_factor", 0)],
    "muon": [("ns_steps", 0), ("adjust_lr", "rms"), ("adam_b2", 1.0), ("mask", "(")],
    "lion": [("mask", "(")],
    "adan": [("b3", 1.0)],
    "prodigy": [("estim_lr0", 0.0), ("beta3", 1.0)],
    "adopt": [("mask", "(")],
    "yogi": [("initial_accumulator_value", -1.0)],
    "sam": [("eta", -0.01), ("optimizer", "adamm()")],
}


def bad_cases():
    for name in NAMES:
        parameters = {p.name for p in registry.describe("optimizer", name).parameters}
        for argument, values in SHARED_BAD.items():
            if argument in parameters:
                for value in values:
                    yield name, argument, value
        for argument, value in OWN_BAD.get(name, []):
            yield name, argument, value


BAD_CASES = list(bad_cases())


def test_every_name_has_a_bad_input_case():
    assert sorted({name for name, _, _ in BAD_CASES}) == NAMES


@pytest.mark.parametrize("name, argument, value", BAD_CASES)
def test_bad_input_raises_naming_the_argument(name, argument, value):
    spec = registry.parse(EXAMPLES[name].spec)
    bad = registry.Spec(spec.name, spec.args, {**spec.kwargs, argument: value})
    with pytest.raises(registry.RegistryError) as info:
        registry.build("optimizer", bad)
    assert info.value.argument == argument
    assert f"optimizer {name!r}: argument {argument!r}" in str(info.value)
