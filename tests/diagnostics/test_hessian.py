"""Hessian-vector products, Lanczos, the full spectrum, SLQ and the minimum ratio, against known answers."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

from tricks import diagnostics


def symmetric(n, seed, low=-2.0, high=5.0):
    """A random symmetric matrix with eigenvalues spread over [low, high], and its eigenvalues."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    values = np.sort(rng.uniform(low, high, n))
    return (q * values) @ q.T, values


def test_hvp_of_a_quadratic_on_a_pytree(x64):
    a, _ = symmetric(7, 0)
    params = {"w": jnp.zeros((3,)), "b": {"c": jnp.zeros((2, 2))}}
    unravel = ravel_pytree(params)[1]

    def loss(p):
        x = ravel_pytree(p)[0]
        return 0.5 * x @ a @ x + jnp.sum(jnp.sin(x)) * 0.0

    v = np.random.default_rng(1).normal(size=7)
    hv = diagnostics.hvp(loss, unravel(jnp.asarray(v)), unravel(jnp.asarray(v)))
    np.testing.assert_allclose(ravel_pytree(hv)[0], a @ v, rtol=1e-12)


def test_quadratic_eigenvalues_exact(x64):
    """Full spectrum and Lanczos with m = n both recover the known eigenvalues to 1e-5."""
    a, values = symmetric(40, 2)
    matvec, n = diagnostics.hessian_matvec(lambda x: 0.5 * x @ a @ x, jnp.zeros(40))
    np.testing.assert_allclose(diagnostics.full_hessian(matvec, n, dtype=jnp.float64), a, atol=1e-12)
    np.testing.assert_allclose(
        np.linalg.eigvalsh(diagnostics.full_hessian(matvec, n, dtype=jnp.float64)), values, atol=1e-5
    )
    top = diagnostics.top_eigenvalues(matvec, n, 5, jax.random.key(0), num_iters=40, dtype=jnp.float64)
    np.testing.assert_allclose(top.values, values[::-1][:5], atol=1e-5)
    assert abs(top.smallest - values[0]) < 1e-5
    t = diagnostics.lanczos(matvec, n, 40, jax.random.key(1), dtype=jnp.float64)
    np.testing.assert_allclose(t.ritz()[0], values, atol=1e-5)


def test_full_reorthogonalization_keeps_the_basis_orthonormal(x64):
    """Plain Lanczos loses orthogonality once Ritz values converge (ghost eigenvalues); with full
    reorthogonalization the basis stays orthonormal and no eigenvalue is found twice."""
    values = np.concatenate([[100.0, 90.0], np.linspace(0.0, 1.0, 198)])
    a = jnp.diag(jnp.asarray(values))
    t = diagnostics.lanczos(lambda v: a @ v, 200, 120, jax.random.key(0), dtype=jnp.float64)
    basis = np.asarray(t.basis)
    np.testing.assert_allclose(basis @ basis.T, np.eye(len(basis)), atol=1e-10)
    ritz = np.sort(t.ritz()[0])[::-1]
    assert ritz[0] == pytest.approx(100.0, abs=1e-8) and ritz[1] == pytest.approx(90.0, abs=1e-8)
    assert ritz[2] < 1.0 + 1e-8  # no ghost copy of 100 or 90


def test_invariant_subspace_ends_early(x64):
    a = jnp.diag(jnp.array([1.0, 1.0, 2.0, 2.0, 3.0]))
    t = diagnostics.lanczos(lambda v: a @ v, 5, 5, jax.random.key(0), dtype=jnp.float64)
    assert len(t.alpha) == 3 and t.residual == 0.0
    np.testing.assert_allclose(t.ritz()[0], [1.0, 2.0, 3.0], atol=1e-10)


def test_batches_give_the_hessian_of_the_mean_loss(x64):
    mats = [symmetric(6, s)[0] for s in range(3)]
    batches = {"a": jnp.asarray(np.stack(mats))}
    matvec, n = diagnostics.hessian_matvec(lambda x, b: 0.5 * x @ b["a"] @ x, jnp.zeros(6), batches)
    np.testing.assert_allclose(
        diagnostics.full_hessian(matvec, n, dtype=jnp.float64), np.mean(mats, axis=0), atol=1e-12
    )


def small_mlp_loss():
    """A 2-layer tanh MLP on random data (x64): 4 -> 16 -> 3, 131 parameters."""
    kx, ky, k1, k2 = jax.random.split(jax.random.key(0), 4)
    x = jax.random.normal(kx, (64, 4), jnp.float64)
    y = jax.nn.one_hot(jax.random.randint(ky, (64,), 0, 3), 3, dtype=jnp.float64)
    params = {
        "w1": jax.random.normal(k1, (4, 16), jnp.float64) * 0.5,
        "b1": jnp.zeros(16, jnp.float64),
        "w2": jax.random.normal(k2, (16, 3), jnp.float64) * 0.5,
        "b2": jnp.zeros(3, jnp.float64),
    }

    def loss(p):
        logits = jnp.tanh(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
        return optax.softmax_cross_entropy(logits, y).mean()

    return loss, params


def test_lanczos_and_minimum_ratio_match_the_full_spectrum_on_an_mlp(x64):
    """Top-5 Lanczos eigenvalues (60 steps on 131 parameters) to 1e-3; the minimum ratio is the sign count."""
    loss, params = small_mlp_loss()
    report = diagnostics.analyze_hessian(loss, params, k=5, key=jax.random.key(3), num_iters=60, num_probes=1)
    n, spectrum = report.num_params, report.spectrum  # full spectrum: np.linalg.eigvalsh of the n x n Hessian
    assert n == 4 * 16 + 16 + 16 * 3 + 3 and len(spectrum) == n
    np.testing.assert_allclose(report.top.values, spectrum[::-1][:5], atol=1e-3)
    assert np.all(report.top.bounds < 1e-3)
    positive = int(np.sum(spectrum > 0))
    assert 0 < positive < n  # a random point of an MLP loss is a saddle-like point: mixed signs
    assert diagnostics.minimum_ratio(spectrum) == report.minimum_ratio == positive / n
    assert report.sharpness == spectrum[-1]


@pytest.mark.parametrize("seed", range(5))
def test_minimum_ratio_counts_signs_of_random_spectra(seed):
    values = np.random.default_rng(seed).normal(size=int(50 + 30 * seed))
    assert diagnostics.minimum_ratio(values) == np.count_nonzero(values > 0) / len(values)
    tol = 0.5
    kept = values[np.abs(values) > tol]
    assert diagnostics.minimum_ratio(values, tol) == np.count_nonzero(kept > 0) / len(kept)


def test_slq_density_estimates_the_sign_share_and_the_mean(x64):
    """SLQ on a matrix with 30% negative eigenvalues: the positive share and the mean eigenvalue."""
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.uniform(-3, -1, 150), rng.uniform(1, 6, 350)])
    q, _ = np.linalg.qr(rng.normal(size=(500, 500)))
    a = jnp.asarray((q * values) @ q.T)
    density = diagnostics.spectral_density(
        lambda v: a @ v, 500, jax.random.key(0), num_probes=20, num_iters=40, dtype=jnp.float64
    )
    np.testing.assert_allclose(density.weights.sum(axis=1), 1.0, atol=1e-10)
    assert density.positive_share() == pytest.approx(0.7, abs=0.05)
    assert np.mean(np.sum(density.weights * density.nodes, axis=1)) == pytest.approx(values.mean(), rel=0.1)
    grid = np.linspace(-5, 8, 2000)
    mass = np.sum(density.evaluate(grid, 0.1)) * (grid[1] - grid[0])
    assert mass == pytest.approx(1.0, abs=1e-3)


def test_bad_k_and_large_models_are_refused():
    matvec, n = diagnostics.hessian_matvec(lambda x: jnp.sum(x**2), jnp.zeros(10))
    with pytest.raises(ValueError, match=r"k must be between 1 and the number of parameters \(10\), got 11"):
        diagnostics.analyze_hessian(lambda x: jnp.sum(x**2), jnp.zeros(10), k=11, key=jax.random.key(0))
    with pytest.raises(ValueError, match=r"k must be in \[1, 10\]"):
        diagnostics.top_eigenvalues(matvec, n, 0, jax.random.key(0))
    with pytest.raises(ValueError, match="the limit is 5"):
        diagnostics.full_hessian(matvec, n, limit=5)


def test_large_models_use_slq_for_the_ratio():
    loss = lambda x: 0.5 * jnp.sum(jnp.linspace(-1.0, 3.0, 200) * x**2)  # 25% negative
    report = diagnostics.analyze_hessian(
        loss, jnp.zeros(200), k=4, key=jax.random.key(0), full_limit=100, num_probes=10, density_iters=30
    )
    assert report.spectrum is None
    assert report.minimum_ratio == pytest.approx(0.75, abs=0.06)
    # an evenly spread spectrum is Lanczos's hardest case: the top value converges, the next ones
    # less so, and each residual bound says how far it may be from a true eigenvalue
    true = np.linspace(-1.0, 3.0, 200)
    assert report.sharpness == pytest.approx(3.0, abs=1e-3)
    for value, bound in zip(report.top.values, report.top.bounds):
        assert np.min(np.abs(true - value)) <= bound + 1e-4
    assert "stochastic Lanczos quadrature estimate" in report.table()
    figure = diagnostics.draw_hessian(report)
    assert len(figure.axes) == 1
