"""Focal loss with α (Lin et al. 2017) and Poly-1 (Leng et al. 2022) against NumPy closed forms, at large logits too."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import registry
import tricks  # noqa: F401  (registers the components)
from tricks import losses

N, C = 12, 4
LOGITS = jax.random.normal(jax.random.key(0), (N, C)) * 2.0
LABELS = np.arange(N) % C
ONE_HOT = jax.nn.one_hot(LABELS, C)
SOFT = jax.nn.softmax(jax.random.normal(jax.random.key(1), (N, C)))
W = np.array([1.0, 2.0, 0.5, 3.0])
# Confident rows at ±100: right (p_y = 1 in float32), wrong (p_y = e^-200 = 0), and a tie.
BIG = jnp.array([[100.0, -100.0, -100.0, -100.0], [100.0, -100.0, -100.0, -100.0],
                 [-100.0, 100.0, -100.0, 100.0], [100.0, 100.0, 100.0, 100.0]])
BIG_TARGETS = jnp.eye(C)[jnp.array([0, 1, 2, 3])]


def softmax64(z) -> tuple[np.ndarray, np.ndarray]:
    z = np.asarray(z, np.float64)
    shifted = z - z.max(1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    return np.exp(log_p), log_p


def smooth(t, epsilon: float) -> np.ndarray:
    t = np.asarray(t, np.float64)
    return (1 - epsilon) * t + epsilon / t.shape[1]


def weighted_mean(per_example, t, class_weights) -> float:
    a = np.asarray(t, np.float64) @ (np.ones(C) if class_weights is None else np.asarray(class_weights))
    return float((a * per_example).sum() / a.sum())


def focal_numpy(z, t, gamma, alpha=None, label_smoothing=0.0, class_weights=None) -> float:
    """−Σ_c t_c α_c (1 − p_c)^γ log p_c per example (on smoothed targets), then the weighted mean."""
    p, log_p = softmax64(z)
    a = np.ones(C) if alpha is None else np.broadcast_to(np.asarray(alpha, np.float64), (C,))
    s = smooth(t, label_smoothing)
    per_example = -(s * a * (1 - p) ** gamma * log_p).sum(1)
    return weighted_mean(per_example, t, class_weights)


def poly1_numpy(z, t, epsilon, label_smoothing=0.0, class_weights=None) -> float:
    """CE + ε (1 − p_t), p_t = Σ_c t_c p_c, per example (on smoothed targets), then the weighted mean."""
    p, log_p = softmax64(z)
    s = smooth(t, label_smoothing)
    per_example = -(s * log_p).sum(1) + epsilon * (1 - (s * p).sum(1))
    return weighted_mean(per_example, t, class_weights)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 5.0])
@pytest.mark.parametrize("alpha", [None, 0.25, [0.25, 1.0, 0.5, 0.75]], ids=["none", "float", "list"])
@pytest.mark.parametrize("targets", [ONE_HOT, SOFT], ids=["one_hot", "soft"])
@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.1, "class_weights": list(W)}],
                         ids=["plain", "smoothed_weighted"])
def test_focal_matches_its_closed_form(gamma, alpha, targets, options):
    expected = focal_numpy(LOGITS, targets, gamma, alpha, **options)
    loss = losses.focal(gamma=gamma, alpha=alpha, **options)
    assert float(loss(LOGITS, targets)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_focal_with_one_hot_targets_is_the_papers_alpha_t_form(gamma):
    alpha = np.array([0.25, 1.0, 0.5, 0.75])
    p, _ = softmax64(LOGITS)
    p_t = p[np.arange(N), LABELS]
    expected = np.mean(-alpha[LABELS] * (1 - p_t) ** gamma * np.log(p_t))  # FL(p_t) = −α_t (1 − p_t)^γ log p_t
    assert float(losses.focal(gamma=gamma, alpha=list(alpha))(LOGITS, ONE_HOT)) == pytest.approx(expected, rel=1e-5)


def test_focal_at_gamma_zero_is_the_cross_entropy_and_a_float_alpha_only_scales():
    for targets in (ONE_HOT, SOFT):
        ce = float(losses.cross_entropy()(LOGITS, targets))
        assert float(losses.focal(gamma=0.0)(LOGITS, targets)) == pytest.approx(ce, rel=1e-6)
        assert float(losses.focal(gamma=0.0, alpha=0.25)(LOGITS, targets)) == pytest.approx(0.25 * ce, rel=1e-6)
        assert float(losses.focal(gamma=2.0, alpha=0.25)(LOGITS, targets)) == pytest.approx(
            0.25 * float(losses.focal(gamma=2.0)(LOGITS, targets)), rel=1e-6)


def test_alpha_is_not_renormalized_while_class_weights_are():
    """α = c·1 scales the loss by c; class weights c·1 leave the weighted mean unchanged."""
    base = float(losses.focal()(LOGITS, SOFT))
    assert float(losses.focal(alpha=[3.0] * C)(LOGITS, SOFT)) == pytest.approx(3 * base, rel=1e-6)
    assert float(losses.focal(class_weights=[3.0] * C)(LOGITS, SOFT)) == pytest.approx(base, rel=1e-6)


@pytest.mark.parametrize("epsilon", [-1.0, 0.5, 1.0, 2.0])
@pytest.mark.parametrize("targets", [ONE_HOT, SOFT], ids=["one_hot", "soft"])
@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.1, "class_weights": list(W)}],
                         ids=["plain", "smoothed_weighted"])
def test_poly1_matches_its_closed_form(epsilon, targets, options):
    expected = poly1_numpy(LOGITS, targets, epsilon, **options)
    assert float(losses.poly1(epsilon=epsilon, **options)(LOGITS, targets)) == pytest.approx(expected,
                                                                                                       rel=1e-5)


@pytest.mark.parametrize("targets", [ONE_HOT, SOFT], ids=["one_hot", "soft"])
def test_poly1_at_epsilon_zero_is_the_cross_entropy(targets):
    for options in ({}, {"label_smoothing": 0.2, "class_weights": list(W)}):
        assert float(losses.poly1(epsilon=0.0, **options)(LOGITS, targets)) == float(
            losses.cross_entropy(**options)(LOGITS, targets))


@pytest.mark.parametrize("epsilon", [-1.0, 1.0, 2.0])
def test_poly1_gradient_is_its_closed_form(epsilon):
    """d/dz [CE + ε(1 − p_t)] = (p − t) − ε (t ⊙ p − p_t p) per example, divided by N in the mean."""
    p, _ = softmax64(LOGITS)
    t = np.asarray(SOFT, np.float64)
    p_t = (t * p).sum(1, keepdims=True)
    expected = ((p - t) - epsilon * (t * p - p_t * p)) / N
    np.testing.assert_allclose(jax.grad(losses.poly1(epsilon=epsilon))(LOGITS, SOFT), expected, atol=1e-6)


@pytest.mark.parametrize("gamma", [0.5, 2.0])
@pytest.mark.parametrize("alpha", [None, [0.25, 1.0, 0.5, 0.75]], ids=["none", "list"])
def test_focal_gradient_matches_finite_differences_of_the_closed_form(gamma, alpha):
    z = np.asarray(LOGITS, np.float64)
    t = np.asarray(SOFT, np.float64)
    h, numeric = 1e-6, np.zeros_like(z)
    for i in range(N):
        for c in range(C):
            dz = np.zeros_like(z)
            dz[i, c] = h
            numeric[i, c] = (focal_numpy(z + dz, t, gamma, alpha) - focal_numpy(z - dz, t, gamma, alpha)) / (2 * h)
    np.testing.assert_allclose(jax.grad(losses.focal(gamma=gamma, alpha=alpha))(LOGITS, SOFT), numeric, atol=2e-6)


@pytest.mark.parametrize("spec", ["focal(gamma=0.0)", "focal(gamma=0.5)",
                                  "focal(gamma=2.0, alpha=[0.25, 1.0, 0.5, 2.0])",
                                  "focal(gamma=2.0, label_smoothing=0.1)", "poly1(epsilon=1.0)",
                                  "poly1(epsilon=-1.0, label_smoothing=0.1)"])
@pytest.mark.parametrize("targets", [BIG_TARGETS, jax.nn.softmax(jnp.arange(C * 4.0).reshape(4, C))],
                         ids=["one_hot", "soft"])
def test_logits_of_plus_minus_100_give_finite_values_and_gradients_near_the_closed_form(spec, targets):
    loss = registry.build("loss", spec)
    value, grad = jax.jit(jax.value_and_grad(loss))(BIG, targets)
    assert bool(jnp.isfinite(value)) and bool(jnp.isfinite(grad).all()), (value, grad)
    arguments = dict(registry.parse(spec).kwargs)
    closed = focal_numpy if spec.startswith("focal") else poly1_numpy
    first = arguments.pop("gamma" if closed is focal_numpy else "epsilon")
    assert float(value) == pytest.approx(closed(BIG, targets, first, **arguments), rel=1e-5, abs=1e-6)


def test_poly1_at_large_logits_is_200_plus_epsilon_when_wrong_and_0_when_right():
    wrong_and_right = jnp.array([[100.0, -100.0], [100.0, -100.0]])
    per_example, _ = losses.poly1(epsilon=1.5).example_losses(wrong_and_right, jnp.eye(2)[jnp.array([1, 0])])
    np.testing.assert_allclose(per_example, [201.5, 0.0])
    per_example, _ = losses.focal(gamma=2.0, alpha=0.5).example_losses(wrong_and_right, jnp.eye(2)[jnp.array([1, 0])])
    np.testing.assert_allclose(per_example, [100.0, 0.0])


def test_poly1_epsilon_can_be_traced_for_populations():
    values = jax.vmap(lambda e: losses.poly1(epsilon=e)(LOGITS, SOFT))(jnp.array([0.0, 2.0]))
    expected = [float(losses.poly1(epsilon=e)(LOGITS, SOFT)) for e in (0.0, 2.0)]
    np.testing.assert_allclose(values, expected, rtol=1e-6)


def test_ohem_ranks_by_the_alpha_weighted_focal_loss():
    alpha = [0.01, 1.0, 1.0, 1.0]  # class 0's examples become the easiest
    per_example, _ = losses.focal(alpha=alpha).example_losses(LOGITS, ONE_HOT)
    kept = np.sort(np.argsort(-np.asarray(per_example))[:3])
    assert not set(kept.tolist()) & set(np.flatnonzero(LABELS == 0).tolist())
    grad = np.asarray(jax.grad(losses.ohem(losses.focal(alpha=alpha), fraction=0.25))(LOGITS, ONE_HOT))
    np.testing.assert_array_equal(np.flatnonzero(np.abs(grad).sum(1) > 0), kept)
    assert float(losses.ohem(losses.poly1(), fraction=1.0)(LOGITS, SOFT)) == pytest.approx(
        float(losses.poly1()(LOGITS, SOFT)), rel=1e-6)


def test_a_wrong_number_of_alpha_values_is_reported():
    with pytest.raises(ValueError, match="3 alpha values given for 4 classes"):
        losses.focal(alpha=[1.0, 1.0, 1.0])(LOGITS, ONE_HOT)
