"""Initializers: empirical std and bounds against the SPEC §4 formulas, orthogonality, errors."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import registry
import tricks  # noqa: F401  (registers the components)
from tricks import init as inits

DENSE = (1000, 400)  # fan_in 1000, fan_out 400
CONV = (3, 3, 64, 96)  # fan_in 576, fan_out 864
SHAPES = [DENSE, CONV]


# name -> (spec, distribution, expected std as a function of (fan_in, fan_out)).
EXPECTED = {
    "xavier_uniform": ("xavier_uniform(gain=1.5)", "uniform", lambda i, o: 1.5 * math.sqrt(2 / (i + o))),
    "xavier_normal": ("xavier_normal", "normal", lambda i, o: math.sqrt(2 / (i + o))),
    "kaiming_uniform": ("kaiming_uniform", "uniform", lambda i, o: math.sqrt(2 / i)),
    "kaiming_normal": ("kaiming_normal(mode='fan_out')", "normal", lambda i, o: math.sqrt(2 / o)),
    "lecun_uniform": ("lecun_uniform", "uniform", lambda i, o: math.sqrt(1 / i)),
    "lecun_normal": ("lecun_normal(truncated=True)", "truncated", lambda i, o: math.sqrt(1 / i)),
    "orthogonal": ("orthogonal(gain=2.0)", "orthogonal", None),
    "normal": ("normal(stddev=0.05)", "normal", lambda i, o: 0.05),
    "zeros": ("zeros", "zeros", lambda i, o: 0.0),
}


# Orthogonal matrices are checked by test_orthogonal_is_orthogonal_after_flattening.
BY_VARIANCE = [n for n in registry.names("init") if EXPECTED.get(n, (None, None))[1] != "orthogonal"]


def test_every_registered_init_has_an_expectation():
    assert sorted(EXPECTED) == registry.names("init")


@pytest.mark.parametrize("name", BY_VARIANCE)
@pytest.mark.parametrize("shape", SHAPES, ids=["dense", "conv"])
def test_statistics_match_the_formula(name, shape):
    spec, distribution, expected_std = EXPECTED[name]
    w = np.asarray(registry.build("init", spec)(jax.random.key(0), shape))
    assert w.shape == shape and w.dtype == np.float32
    fan_in, fan_out = inits.fans(shape)
    std = expected_std(fan_in, fan_out)
    if distribution == "zeros":
        assert not w.any()
        return
    assert abs(w.mean()) < 0.02 * std
    assert w.std() == pytest.approx(std, rel=0.02)
    if distribution == "uniform":
        bound = math.sqrt(3) * std  # U(±a) has std a/√3
        assert np.abs(w).max() <= bound * (1 + 1e-6)
        assert np.abs(w).max() > 0.99 * bound
    elif distribution == "truncated":
        assert np.abs(w).max() <= 2 * std / 0.87962566103423978 * (1 + 1e-6)
    else:  # a plain normal has tails beyond 4σ in 400k samples
        assert np.abs(w).max() > 4 * std


@pytest.mark.parametrize("shape", [(3, 3, 32, 64), (3, 3, 8, 128)], ids=["tall", "wide"])
def test_orthogonal_is_orthogonal_after_flattening(shape):
    w = np.asarray(registry.build("init", "orthogonal(gain=2.0)")(jax.random.key(1), shape), np.float64)
    m = w.reshape(-1, shape[-1])
    gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(len(gram)), atol=1e-4)


def test_fans_count_the_receptive_field():
    assert inits.fans((784, 100)) == (784, 100)
    assert inits.fans((5, 3, 16)) == (15, 80)  # 1-D conv: window 5, 3 -> 16 channels
    assert inits.fans((3, 3, 16, 32)) == (144, 288)
    with pytest.raises(ValueError, match="at least 2 axes"):
        inits.fans((10,))


@pytest.mark.parametrize("name", registry.names("init"))
def test_dtype_argument_is_respected_and_keys_matter(name):
    init = registry.build("init", name)
    w16 = init(jax.random.key(0), (16, 8), jnp.bfloat16)
    assert w16.dtype == jnp.bfloat16
    a, b = init(jax.random.key(0), (16, 8)), init(jax.random.key(1), (16, 8))
    np.testing.assert_array_equal(a, init(jax.random.key(0), (16, 8)))
    assert (name == "zeros") == bool(jnp.all(a == b))


def test_repr_is_the_spec():
    assert (
        repr(registry.build("init", "kaiming_normal(truncated=True)"))
        == "kaiming_normal(mode='fan_in', truncated=True)"
    )


@pytest.mark.parametrize(
    "spec, argument",
    [
        ("xavier_uniform(gain=0)", "gain"),
        ("orthogonal(gain=-1.0)", "gain"),
        ("normal(stddev=0.0)", "stddev"),
        ("kaiming_normal(mode='fan_avg')", "mode"),
    ],
)
def test_bad_arguments_raise_registry_errors(spec, argument):
    with pytest.raises(registry.RegistryError, match=argument) as err:
        registry.build("init", spec)
    assert err.value.kind == "init"
