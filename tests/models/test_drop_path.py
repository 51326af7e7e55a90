"""Stochastic depth in `resnet` (``drop_path_rate``): timm's per-example drop path and linear rule."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import registry
import tricks  # noqa: F401  (registers the components)
from tricks.models import _resnet

SPEC = "resnet(5, depth=20, width=2, drop_path_rate={rate})"  # n = 9 blocks, rates 0, r/8, ..., r
N = 4000  # examples in the statistical check


def block_names(model) -> list[str]:
    return [f"stage{s + 1}_block{b}" for s in range(3) for b in range(model.blocks_per_stage)]


@functools.cache
def captured(rate: float, dtype: str = "float32") -> dict:
    """One training forward pass over N tiny images, with every submodule's output captured."""
    model = registry.build("model", SPEC.format(rate=rate)[:-1] + f", dtype={dtype!r})")
    x = jax.random.normal(jax.random.key(0), (N, 4, 4, 1))
    variables = model.init(jax.random.key(1), x[:2])

    @jax.jit
    def forward(key):
        return model.apply(variables, x, train=True, rngs={"dropout": key}, mutable=["batch_stats", "intermediates"],
                           capture_intermediates=True)

    logits, state = forward(jax.random.key(2))
    return {"model": model, "logits": logits, "intermediates": state["intermediates"]}


def test_the_rate_grows_linearly_from_zero_over_all_blocks_as_in_timm():
    model = registry.build("model", SPEC.format(rate=0.4))
    n = 9
    assert model.block_drop_path_rates() == pytest.approx([0.4 * i / (n - 1) for i in range(n)])
    assert registry.build("model", "resnet(5, depth=8, drop_path_rate=0.3)").block_drop_path_rates() == \
        pytest.approx([0.0, 0.15, 0.3])


@pytest.mark.parametrize("rate", [0.8])
def test_each_block_drops_its_residual_branch_per_example_with_its_rate_and_scales_the_kept(rate):
    r = captured(rate)
    names = block_names(r["model"])
    dropped = {}
    for i, name in enumerate(names):
        block = r["intermediates"][name]
        p = rate * i / (len(names) - 1)
        if p == 0:
            assert "DropPath" not in block, "the first block is never dropped"
            continue
        branch = np.asarray(block["BatchNorm_1"]["__call__"][0]).reshape(N, -1)
        out = np.asarray(block["DropPath"]["__call__"][0]).reshape(N, -1)
        zero = (out == 0).all(axis=1)
        dropped[i] = zero
        # Binomial(N, p): 4 standard deviations (the key is fixed, so the check is deterministic).
        assert abs(zero.mean() - p) <= 4 * np.sqrt(p * (1 - p) / N), (name, zero.mean(), p)
        np.testing.assert_allclose(out[~zero], branch[~zero] / np.float32(1 - p), rtol=1e-6)
        assert (np.abs(branch[zero]).sum(axis=1) > 0).all(), "a dropped branch was not zero before"
    # Blocks draw independently: two blocks are dropped together about p_i · p_j of the time.
    i, j = 4, 8
    p_i, p_j = rate * i / 8, rate * j / 8
    both = (dropped[i] & dropped[j]).mean()
    assert abs(both - p_i * p_j) <= 4 * np.sqrt(p_i * p_j * (1 - p_i * p_j) / N)


def test_bfloat16_drops_in_bfloat16_and_keeps_float32_logits():
    r = captured(0.5, "bfloat16")
    out = r["intermediates"]["stage3_block1"]["DropPath"]["__call__"][0]
    branch = r["intermediates"]["stage3_block1"]["BatchNorm_1"]["__call__"][0]
    assert out.dtype == branch.dtype == jnp.bfloat16
    kept = np.asarray(jnp.any(out != 0, axis=(1, 2, 3)))
    p = 0.5 * 7 / 8  # block 7 of 0..8
    assert abs((~kept).mean() - p) <= 4 * np.sqrt(p * (1 - p) / N)
    np.testing.assert_array_equal(np.asarray(out[kept], np.float32),
                                  np.asarray(branch[kept] / jnp.bfloat16(1 - p), np.float32))
    assert r["logits"].dtype == jnp.float32 and bool(jnp.isfinite(r["logits"]).all())


def apply_both(rate: float, x: jax.Array) -> tuple:
    """The model with `rate` and the one without, on the same parameters: train (two keys) and eval outputs."""
    plain = registry.build("model", "resnet(5, depth=8, width=4)")
    model = registry.build("model", f"resnet(5, depth=8, width=4, drop_path_rate={rate})")
    variables = plain.init(jax.random.key(0), x)

    @jax.jit
    def run(keys):
        def train(m, k):
            return m.apply(variables, x, train=True, rngs={"dropout": k}, mutable=["batch_stats"])[0]
        # No dropout RNG at evaluation: drawing one there would fail.
        return ([train(model, k) for k in keys], [train(plain, k) for k in keys],
                model.apply(variables, x), plain.apply(variables, x))

    return run(jax.random.split(jax.random.key(1), 3)), (plain, model, variables)


def test_same_parameters_identity_at_evaluation_and_deterministic_under_a_key():
    x = jax.random.normal(jax.random.key(5), (16, 8, 8, 3))
    (train, train_plain, evaluation, evaluation_plain), (plain, model, variables) = apply_both(0.5, x)
    same = jax.tree.map(lambda a, b: a.shape == b.shape and a.dtype == b.dtype,
                        jax.eval_shape(model.init, jax.random.key(0), x), variables)
    assert jax.tree.all(same), "drop path adds no parameter"
    np.testing.assert_array_equal(evaluation, evaluation_plain)  # the identity at evaluation
    assert bool(jnp.any(train[0] != train[1])), "different keys drop different branches"
    assert bool(jnp.any(train[0] != train_plain[0]))
    again = jax.jit(lambda k: model.apply(variables, x, train=True, rngs={"dropout": k}, mutable=["batch_stats"]))
    np.testing.assert_array_equal(again(jax.random.split(jax.random.key(1), 3)[0])[0], train[0])


def test_rate_zero_is_the_plain_resnet_bit_for_bit():
    x = jax.random.normal(jax.random.key(5), (16, 8, 8, 3))
    (train, train_plain, evaluation, evaluation_plain), (plain, model, _) = apply_both(0.0, x)
    assert model.drop_path_rate == 0.0 and model.block_drop_path_rates() == (0.0,) * 3
    for ours, reference in zip(train, train_plain, strict=True):
        np.testing.assert_array_equal(ours, reference)
    np.testing.assert_array_equal(train[0], train[1])  # no randomness at all
    np.testing.assert_array_equal(evaluation, evaluation_plain)


def test_drop_path_layer_is_timms_drop_path():
    x = jnp.arange(1.0, 1001.0).reshape(1000, 1, 1)[:, :, :, None] * jnp.ones((1, 2, 3, 4))
    y = np.asarray(jax.jit(lambda x, k: _resnet.DropPath(0.3).apply({}, x, False, rngs={"dropout": k}))(
        x, jax.random.key(0)))
    flat = y.reshape(1000, -1)
    kept = flat.any(axis=1)
    assert (flat[~kept] == 0).all()
    np.testing.assert_allclose(flat[kept], np.asarray(x).reshape(1000, -1)[kept] / 0.7, rtol=1e-6)
    assert abs(kept.mean() - 0.7) <= 4 * np.sqrt(0.21 / 1000)
    np.testing.assert_array_equal(_resnet.DropPath(0.3).apply({}, x, True), x)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, "0.1", True])
def test_a_bad_rate_is_a_registry_error(rate):
    with pytest.raises(registry.RegistryError, match="drop_path_rate"):
        registry.get("model", "resnet")(5, drop_path_rate=rate)  # from Python
    with pytest.raises(registry.RegistryError, match="drop_path_rate") as err:
        registry.build("model", f"resnet(5, drop_path_rate={rate!r})")
    assert err.value.kind == "model"
    if not isinstance(rate, (str, bool)):
        assert "[0, 1)" in str(err.value)
