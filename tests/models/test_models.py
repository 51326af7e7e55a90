"""Models, generated over the registry: calling convention, shapes, batch norm, dropout, init."""

import functools
import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import registry
import tricks  # noqa: F401  (registers the components)
from tricks.models import _layers
from tricks.train._state import initial_variables

NUM_CLASSES = 5

# name -> (spec, input shape, has batch norm, has dropout). Tiny, so every test stays fast.
EXAMPLES = {
    "mlp": (f"mlp({NUM_CLASSES}, widths=[16, 8], batch_norm=True, dropout=0.5)", (4, 6, 6, 1), True, True),
    "cnn": (
        f"cnn({NUM_CLASSES}, channels=[4, 8], dense=[16], batch_norm=True, "
        "conv_dropout=[0.0, 0.25], dense_dropout=0.5)",
        (4, 9, 9),
        True,
        True,
    ),
    "resnet": (
        f"resnet({NUM_CLASSES}, depth=8, width=4, zero_init_residual=True)",
        (4, 8, 8, 3),
        True,
        False,
    ),
    "cnn1d": (f"cnn1d({NUM_CLASSES}, channels=[4, 4], kernel_size=3, dropout=0.3)", (4, 40), False, True),
}


def test_every_registered_model_has_an_example():
    assert sorted(EXAMPLES) == registry.names("model")


@functools.cache
def run(name: str) -> dict:
    """Initializes and applies one example model in every mode, in one jitted call shared by the tests."""
    spec, shape, _, _ = EXAMPLES[name]
    model = registry.build("model", spec)
    x = jax.random.normal(jax.random.key(0), shape)

    @jax.jit
    def everything(keys):
        variables = model.init({"params": keys[0], "dropout": keys[1]}, x, train=False)
        train = jax.vmap(
            lambda k: model.apply(variables, x, train=True, rngs={"dropout": k}, mutable=["batch_stats"])
        )(keys[2:])
        # No dropout RNG is given at evaluation: a model drawing one there would fail.
        logits, state = model.apply(variables, x, train=False, mutable=["batch_stats", "intermediates"])
        return variables, train, logits, state

    variables, train, logits, state = everything(jax.random.split(jax.random.key(1), 4))
    train = [jax.tree.map(lambda a, i=i: a[i], train) for i in range(2)]
    return {
        "model": model,
        "x": x,
        "variables": variables,
        "train": train,
        "eval": logits,
        "eval_state": state,
    }


@pytest.mark.parametrize("name", registry.names("model"))
def test_factory_returns_a_linen_module(name):
    assert isinstance(registry.build("model", EXAMPLES[name][0]), nn.Module)


@pytest.mark.parametrize("name", registry.names("model"))
def test_logits_have_the_documented_shape_and_are_finite(name):
    r = run(name)
    for logits in [r["train"][0][0], r["eval"]]:
        assert logits.shape == (r["x"].shape[0], NUM_CLASSES)
        assert logits.dtype == jnp.float32
        assert bool(jnp.isfinite(logits).all())


@pytest.mark.parametrize("name", registry.names("model"))
def test_batch_stats_are_updated_in_training_only(name):
    r = run(name)
    has_bn = EXAMPLES[name][2]
    _, updates = r["train"][0]
    assert ("batch_stats" in r["variables"]) == has_bn
    if not has_bn:
        assert updates == {}
        return
    old, new = r["variables"]["batch_stats"], updates["batch_stats"]
    assert jax.tree.structure(old) == jax.tree.structure(new)
    changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), old, new)
    assert all(jax.tree.leaves(changed)), "every running statistic moves in a training step"
    # In eval mode the running averages are used and nothing is mutated.
    unchanged = r["eval_state"]["batch_stats"]
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.all(a == b)), old, unchanged))


@pytest.mark.parametrize("name", registry.names("model"))
def test_dropout_acts_in_training_only(name):
    r = run(name)
    (first, _), (second, _) = r["train"]
    differs = bool(jnp.any(first != second))
    assert differs == EXAMPLES[name][3], "dropout keys change training outputs iff the model has dropout"


@pytest.mark.parametrize("name", registry.names("model"))
def test_init_argument_reaches_every_kernel(name):
    spec, shape, _, _ = EXAMPLES[name]
    requested = []

    def recording_init(key, shape, dtype=jnp.float32):
        requested.append(tuple(shape))
        return jnp.full(shape, 2.0, dtype)

    arguments = {**registry.parse(spec).kwargs, "num_classes": NUM_CLASSES, "init": recording_init}
    model = registry.get("model", name)(**arguments)
    variables = jax.eval_shape(lambda k: model.init(k, jnp.zeros(shape), train=False), jax.random.key(0))
    kernels = [
        k.shape for p, k in jax.tree_util.tree_leaves_with_path(variables["params"]) if p[-1].key == "kernel"
    ]
    assert kernels and sorted(requested) == sorted(kernels)


def test_init_argument_changes_parameter_statistics():
    x = jnp.zeros((2, 64))
    inits = ("normal(stddev=2.0)", "kaiming_normal")
    models = [registry.build("model", f"mlp(3, widths=[256], init={i!r})") for i in inits]
    normal, kaiming = jax.jit(lambda k: [m.init(k, x)["params"] for m in models])(jax.random.key(0))
    layers = ("Dense_0", "head")
    assert [float(normal[n]["kernel"].std()) for n in layers] == pytest.approx([2.0] * 2, rel=0.05)
    expected = [(2 / 64) ** 0.5, (2 / 256) ** 0.5]  # He: √(2 / fan_in)
    assert [float(kaiming[n]["kernel"].std()) for n in layers] == pytest.approx(expected, rel=0.08)


@pytest.mark.parametrize("name", registry.names("model"))
def test_init_accepts_a_callable_and_a_spec_string_from_python(name):
    factory = registry.get("model", name)
    assert factory(NUM_CLASSES, init="zeros").kernel_init(jax.random.key(0), (2, 2)).sum() == 0
    ones = lambda key, shape, dtype=jnp.float32: jnp.ones(shape, dtype)  # noqa: E731
    assert factory(NUM_CLASSES, init=ones).kernel_init is ones


@pytest.mark.parametrize("name", registry.names("model"))
def test_hidden_activations_are_sown(name):
    r = run(name)
    sown = jax.tree_util.tree_leaves_with_path(r["eval_state"]["intermediates"])
    assert sown and all(leaf.shape[0] == r["x"].shape[0] for _, leaf in sown)
    assert all("activation" in jax.tree_util.keystr(path) for path, _ in sown)


def test_ten_layer_mlps_expose_every_layer():
    for activation in ("tanh", "relu"):
        model = registry.get("model", "mlp")(10, widths=[8] * 10, activation=activation)
        x = jnp.ones((2, 3))
        variables = jax.eval_shape(model.init, jax.random.key(0), x)
        assert sorted(variables["params"]) == sorted([f"Dense_{i}" for i in range(10)] + ["head"])
        _, state = jax.eval_shape(functools.partial(model.apply, mutable=["intermediates"]), variables, x)
        assert sorted(state["intermediates"]) == sorted(f"Dense_{i}_activation" for i in range(10))


def test_resnet_zero_init_residual_zeroes_the_last_bn_scale_of_each_block():
    params = run("resnet")["variables"]["params"]
    blocks = [k for k in params if k.startswith("stage")]
    assert len(blocks) == 3
    for block in blocks:
        assert not params[block]["BatchNorm_1"]["scale"].any()
        assert params[block]["BatchNorm_0"]["scale"].all()


@pytest.mark.parametrize(
    "depth, shortcut, count",
    [(20, "pad", 269_722), (32, "pad", 464_154), (56, "pad", 853_018), (20, "projection", 272_474)],
)
def test_resnet_parameter_counts_match_he_et_al(depth, shortcut, count):
    model = registry.build("model", f"resnet(10, depth={depth}, shortcut='{shortcut}')")
    variables = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
    assert sum(p.size for p in jax.tree.leaves(variables["params"])) == count


def test_resnet_axis_name_averages_statistics_across_devices():
    model = registry.build("model", "resnet(3, depth=8, width=2, axis_name='batch')")
    x = jnp.arange(2 * 2 * 4 * 4 * 1, dtype=jnp.float32).reshape(2, 2, 4, 4, 1)
    variables = jax.eval_shape(model.init, jax.random.key(0), x[0])
    variables = jax.tree.map(lambda s: jnp.ones(s.shape, s.dtype), variables)
    step = jax.jit(
        jax.vmap(
            lambda xi: model.apply(variables, xi, train=True, mutable=["batch_stats"])[1], axis_name="batch"
        )
    )
    stats = step(x)["batch_stats"]["stem_BatchNorm"]["mean"]
    np.testing.assert_allclose(stats[0], stats[1])  # the two shards see the same (averaged) statistics


def test_cnn1d_defaults_are_greydanus_convbase():
    model = registry.build("model", "cnn1d(10)")
    variables = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 40)))
    assert sum(p.size for p in jax.tree.leaves(variables["params"])) == 5210  # as ConvBase reports
    assert variables["params"]["head"]["kernel"].shape == (125, 10)


def test_cnn_reshape_pooling_matches_flax_pooling():
    x = jax.random.normal(jax.random.key(0), (2, 7, 9, 3))
    ours, average, flax_max = jax.jit(
        lambda x: (_layers.pool2x2(x, "max"), _layers.pool2x2(x, "avg"), nn.max_pool(x, (2, 2), (2, 2)))
    )(x)
    np.testing.assert_array_equal(ours, flax_max)
    x = np.asarray(x)
    windows = [
        [x[:, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].mean(axis=(1, 2)) for j in range(4)] for i in range(3)
    ]
    np.testing.assert_allclose(average, np.stack([np.stack(row, 1) for row in windows], 1), rtol=1e-6)


def test_dropout_keeps_the_expected_fraction_and_scales():
    drop = jax.jit(lambda x, k: _layers.Dropout(0.25).apply({}, x, False, rngs={"dropout": k}))
    y = drop(jnp.ones((64, 8, 8, 4)), jax.random.key(0))
    kept = np.asarray(y != 0)
    assert kept.mean() == pytest.approx(0.75, abs=0.02)
    np.testing.assert_allclose(np.asarray(y)[kept], 1 / 0.75)
    np.testing.assert_array_equal(_layers.Dropout(0.25).apply({}, jnp.ones(3), True), jnp.ones(3))


@pytest.mark.parametrize(
    "spec, argument",
    [
        ("resnet(10, depth=21)", "depth"),
        ("resnet(10, shortcut='conv')", "shortcut"),
        ("mlp(10, dropout=1.0)", "dropout"),
        ("mlp(10, activation='relux')", "activation"),
        ("mlp(0)", "num_classes"),
        ("cnn(10, channels=[8, 16], conv_dropout=[0.1])", "conv_dropout"),
        ("cnn(10, pool='median')", "pool"),
        ("cnn1d(10, kernel_size=[5, 3])", "kernel_size"),
        ("cnn1d(10, channels=[])", "channels"),
        ("mlp(10, init='xavier_unifrom')", "init"),
    ],
)
def test_bad_arguments_raise_registry_errors(spec, argument):
    with pytest.raises(registry.RegistryError, match=argument) as err:
        registry.build("model", spec)
    assert err.value.kind == "model"


def test_unknown_activation_suggests_the_closest():
    with pytest.raises(registry.RegistryError, match="did you mean 'relu'"):
        registry.build("model", "mlp(10, activation='relux')")


@pytest.mark.parametrize("name, shape", [("cnn", (2, 40)), ("resnet", (2, 40)), ("cnn1d", (2, 4, 4, 4))])
def test_wrong_input_rank_names_the_shape(name, shape):
    model = registry.get("model", name)(NUM_CLASSES)
    with pytest.raises(ValueError, match=re.escape(str(shape))):
        jax.eval_shape(model.init, jax.random.key(0), jnp.zeros(shape))


def with_dtype(name: str, dtype: str) -> str:
    """The example's spec computing in `dtype`."""
    return EXAMPLES[name][0][:-1] + f", dtype={dtype!r})"


@pytest.mark.parametrize("name", registry.names("model"))
def test_bfloat16_computes_in_bfloat16_and_keeps_float32_parameters_statistics_and_logits(name):
    model = registry.build("model", with_dtype(name, "bfloat16"))
    x = jax.random.normal(jax.random.key(0), EXAMPLES[name][1])
    variables = model.init({"params": jax.random.key(1), "dropout": jax.random.key(2)}, x)
    logits, state = model.apply(variables, x, train=True, rngs={"dropout": jax.random.key(3)},
                                mutable=["batch_stats", "intermediates"])
    assert {leaf.dtype for leaf in jax.tree.leaves(variables)} == {jnp.dtype(jnp.float32)}
    assert {leaf.dtype for leaf in jax.tree.leaves(state.get("batch_stats", {}))} <= {jnp.dtype(jnp.float32)}
    assert {leaf.dtype for leaf in jax.tree.leaves(state["intermediates"])} == {jnp.dtype(jnp.bfloat16)}
    assert logits.dtype == jnp.float32 and bool(jnp.isfinite(logits).all())


@pytest.mark.parametrize("name", registry.names("model"))
def test_bfloat16_logits_are_float32_logits_to_bfloat16_rounding(name):
    """Same parameters, both dtypes: the logits agree to bfloat16's precision (8 bits of
    mantissa, compounded over the layers), so the dtype changes the arithmetic, not the model."""
    x = jax.random.normal(jax.random.key(0), EXAMPLES[name][1])
    full = registry.build("model", with_dtype(name, "float32"))
    variables = full.init({"params": jax.random.key(1), "dropout": jax.random.key(2)}, x)
    reference = full.apply(variables, x)
    low = registry.build("model", with_dtype(name, "bfloat16")).apply(variables, x)
    scale = float(jnp.max(jnp.abs(reference)))
    assert float(jnp.max(jnp.abs(low - reference))) <= 0.05 * scale
    assert float(jnp.max(jnp.abs(low - reference))) > 0, "bfloat16 rounding shows in the logits"


def test_an_unknown_dtype_is_a_registry_error_naming_the_valid_ones():
    with pytest.raises(registry.RegistryError, match=r"dtype.*'float16'.*'float32' \| 'bfloat16'"):
        registry.build("model", "mlp(3, dtype='float16')")


@pytest.mark.parametrize("name", registry.names("model"))
@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_training_state_variables_are_init_s_bit_for_bit(name, precision):
    """`tricks.train.create_state` initializes lazily (Flax's ``lazy_init``: the model's
    forward pass is not run): the very variables of ``model.init``."""
    spec, shape, _, _ = EXAMPLES[name]
    model = registry.build("model", spec[:-1] + f", dtype={precision!r})")
    x = jax.random.normal(jax.random.key(0), shape)
    rngs = {"params": jax.random.key(1), "dropout": jax.random.key(2)}
    lazy, eager = initial_variables(model, rngs, x), model.init(rngs, x, train=False)
    assert jax.tree.structure(lazy) == jax.tree.structure(eager)
    for found, expected in zip(jax.tree.leaves(lazy), jax.tree.leaves(eager), strict=True):
        assert found.dtype == expected.dtype and np.array_equal(found, expected)


def test_variables_computed_from_the_example_fall_back_to_init():
    class Centered(nn.Module):
        @nn.compact
        def __call__(self, x, train=False):
            mean = self.variable("batch_stats", "mean", lambda: jnp.mean(x, axis=0)).value
            return nn.Dense(2)(x - mean)

    x = jnp.arange(8.0).reshape(2, 4)
    found = initial_variables(Centered(), {"params": jax.random.key(0)}, x)
    assert found["batch_stats"]["mean"].tolist() == [2.0, 3.0, 4.0, 5.0]
