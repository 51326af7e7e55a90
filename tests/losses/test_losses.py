"""Losses, generated over the registry, against closed forms and optax."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from sklearn.utils.class_weight import compute_class_weight

import registry
import tricks  # noqa: F401  (registers the components)
from tricks import losses

N, C = 12, 4
LOGITS = jax.random.normal(jax.random.key(0), (N, C)) * 2.0
LABELS = jnp.arange(N) % C
ONE_HOT = jax.nn.one_hot(LABELS, C)
SOFT = jax.nn.softmax(jax.random.normal(jax.random.key(1), (N, C)))

# name -> an example spec using its options.
EXAMPLES = {
    "cross_entropy": "cross_entropy(label_smoothing=0.1, class_weights=[1.0, 2.0, 0.5, 1.0])",
    "mse": "mse(label_smoothing=0.1, class_weights=[1.0, 2.0, 0.5, 1.0], softmax=True)",
    "focal": "focal(gamma=1.5, alpha=[0.25, 1.0, 0.5, 0.75], label_smoothing=0.1, class_weights=[1.0, 2.0, 0.5, 1.0])",
    "poly1": "poly1(epsilon=2.0, label_smoothing=0.1, class_weights=[1.0, 2.0, 0.5, 1.0])",
    "ohem": "ohem(cross_entropy(class_weights=[1.0, 2.0, 0.5, 1.0]), fraction=0.5)",
}


def test_every_registered_loss_has_an_example():
    assert sorted(EXAMPLES) == registry.names("loss")


@pytest.mark.parametrize("name", registry.names("loss"))
@pytest.mark.parametrize("targets", [ONE_HOT, SOFT], ids=["one_hot", "soft"])
def test_scalar_finite_jittable_and_differentiable(name, targets):
    loss = registry.build("loss", EXAMPLES[name])
    value, grad = jax.jit(jax.value_and_grad(loss))(LOGITS, targets)
    assert value.shape == () and value.dtype == jnp.float32 and bool(jnp.isfinite(value))
    assert grad.shape == LOGITS.shape and bool(jnp.isfinite(grad).all())
    assert float(value) == pytest.approx(float(loss(LOGITS, targets)), rel=1e-5)


@pytest.mark.parametrize("name", registry.names("loss"))
def test_prepare_is_the_identity_when_nothing_is_to_be_prepared(name):
    loss = registry.build("loss", EXAMPLES[name])
    assert loss.prepare(np.array([3, 3, 3, 3])) == loss


@pytest.mark.parametrize("name", registry.names("loss"))
def test_balanced_weights_come_from_the_class_counts(name):
    spec = {
        "cross_entropy": "cross_entropy(class_weights='balanced')",
        "mse": "mse(class_weights='balanced')",
        "focal": "focal(class_weights='balanced')",
        "poly1": "poly1(class_weights='balanced')",
        "ohem": "ohem(mse(class_weights='balanced'))",
    }[name]
    loss = registry.build("loss", spec)
    with pytest.raises(ValueError, match=r"prepare\(class_counts\)"):
        loss(LOGITS, ONE_HOT)
    labels = np.array([0] * 50 + [1] * 30 + [2] * 15 + [3] * 5)
    prepared = loss.prepare(np.bincount(labels, minlength=C))
    inner = prepared.loss if name == "ohem" else prepared
    expected = compute_class_weight("balanced", classes=np.arange(C), y=labels)
    np.testing.assert_allclose(inner.class_weights, expected)
    assert bool(jnp.isfinite(prepared(LOGITS, ONE_HOT)))


def test_cross_entropy_matches_optax():
    assert float(losses.cross_entropy()(LOGITS, SOFT)) == pytest.approx(
        float(optax.softmax_cross_entropy(LOGITS, SOFT).mean()), rel=1e-6
    )
    smoothed = optax.smooth_labels(ONE_HOT, 0.2)
    assert float(losses.cross_entropy(label_smoothing=0.2)(LOGITS, ONE_HOT)) == pytest.approx(
        float(optax.softmax_cross_entropy(LOGITS, smoothed).mean()), rel=1e-6
    )


def test_class_weights_give_the_weighted_mean_of_the_true_class_weight():
    w = np.array([1.0, 2.0, 0.5, 3.0])
    per_example = optax.softmax_cross_entropy_with_integer_labels(LOGITS, LABELS)
    a = w[np.asarray(LABELS)]
    expected = float((a * per_example).sum() / a.sum())
    assert float(losses.cross_entropy(class_weights=list(w))(LOGITS, ONE_HOT)) == pytest.approx(
        expected, rel=1e-6
    )
    # Soft targets weight each example by targets @ w.
    per_example = optax.softmax_cross_entropy(LOGITS, SOFT)
    a = np.asarray(SOFT) @ w
    expected = float((a * per_example).sum() / a.sum())
    assert float(losses.cross_entropy(class_weights=list(w))(LOGITS, SOFT)) == pytest.approx(
        expected, rel=1e-6
    )


def test_mse_on_logits_and_on_probabilities():
    assert float(losses.mse()(LOGITS, ONE_HOT)) == pytest.approx(
        float(optax.squared_error(LOGITS, ONE_HOT).mean()), rel=1e-6
    )
    smoothed = optax.smooth_labels(ONE_HOT, 0.1)
    probabilities = jax.nn.softmax(LOGITS)
    assert float(losses.mse(label_smoothing=0.1, softmax=True)(LOGITS, ONE_HOT)) == pytest.approx(
        float(optax.squared_error(probabilities, smoothed).mean()), rel=1e-6
    )


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 5.0])
@pytest.mark.parametrize("targets", [ONE_HOT, SOFT], ids=["one_hot", "soft"])
def test_focal_loss_matches_its_closed_form(gamma, targets):
    w = np.array([1.0, 2.0, 0.5, 3.0])
    z = np.asarray(LOGITS, np.float64)
    t = np.asarray(targets, np.float64)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)  # Lin et al.'s FL(p_t) = -(1 - p_t)^gamma log p_t, summed over soft targets
    per_example = -(t * (1 - p) ** gamma * np.log(p)).sum(1)
    a = t @ w
    expected = (a * per_example).sum() / a.sum()
    assert float(losses.focal(gamma=gamma, class_weights=list(w))(LOGITS, targets)) == pytest.approx(expected,
                                                                                                      rel=1e-5)


def test_focal_loss_at_gamma_zero_is_the_cross_entropy_and_spares_easy_examples():
    assert float(losses.focal(gamma=0.0)(LOGITS, SOFT)) == pytest.approx(float(losses.cross_entropy()(LOGITS, SOFT)),
                                                                         rel=1e-6)
    grad_focal = jax.grad(losses.focal(gamma=2.0))(LOGITS, ONE_HOT)
    grad_ce = jax.grad(losses.cross_entropy())(LOGITS, ONE_HOT)
    correct = np.asarray(jax.nn.softmax(LOGITS))[np.arange(N), np.asarray(LABELS)]
    share = np.abs(np.asarray(grad_focal)).sum(1) / np.abs(np.asarray(grad_ce)).sum(1)
    easiest, hardest = np.argmax(correct), np.argmin(correct)
    assert share[easiest] < share[hardest]  # the confident examples lose the most of their gradient


@pytest.mark.parametrize("fraction, kept", [(0.25, 3), (0.5, 6), (0.01, 1), (1.0, 12)])
def test_ohem_keeps_the_hardest_examples_and_zeroes_the_others_gradients(fraction, kept):
    loss = losses.ohem(losses.cross_entropy(), fraction=fraction)
    per_example = np.asarray(optax.softmax_cross_entropy(LOGITS, ONE_HOT))
    hardest = np.argsort(-per_example)[:kept]
    assert float(loss(LOGITS, ONE_HOT)) == pytest.approx(per_example[hardest].mean(), rel=1e-6)
    grad = np.asarray(jax.grad(loss)(LOGITS, ONE_HOT))
    has_gradient = np.abs(grad).sum(axis=1) > 0
    np.testing.assert_array_equal(np.flatnonzero(has_gradient), np.sort(hardest))


def test_ohem_of_the_whole_batch_is_the_inner_loss():
    inner = losses.mse(class_weights=[1.0, 2.0, 3.0, 4.0])
    assert float(losses.ohem(inner, fraction=1.0)(LOGITS, SOFT)) == pytest.approx(
        float(inner(LOGITS, SOFT)), rel=1e-6
    )


def test_ohem_accepts_a_spec_string_from_python():
    assert losses.ohem("mse", 0.5) == losses.OHEM(losses.mse(), 0.5)


def test_a_wrong_number_of_class_weights_is_reported():
    with pytest.raises(ValueError, match="3 class weights given for 4 classes"):
        losses.cross_entropy(class_weights=[1.0, 1.0, 1.0])(LOGITS, ONE_HOT)
    with pytest.raises(ValueError, match="the dataset has 4 classes"):
        losses.cross_entropy(class_weights=[1.0, 1.0, 1.0]).prepare(np.ones(4))


def test_integer_labels_are_refused_with_the_shapes():
    with pytest.raises(ValueError, match=r"\(12, 4\) and \(12,\)"):
        losses.cross_entropy()(LOGITS, LABELS)


def test_balanced_weights_need_every_class():
    with pytest.raises(ValueError, match=r"no examples of \[2\]"):
        losses.balanced_weights([5, 3, 0])


@pytest.mark.parametrize(
    "spec, argument",
    [
        ("cross_entropy(label_smoothing=1.0)", "label_smoothing"),
        ("mse(class_weights=[1.0, -1.0])", "class_weights"),
        ("mse(class_weights=[0.0, 0.0])", "class_weights"),
        ("cross_entropy(class_weights='balance')", "class_weights"),
        ("ohem(fraction=0.0)", "fraction"),
        ("ohem(ohem)", "loss"),
        ("focal(gamma=-1.0)", "gamma"),
        ("focal(alpha=0.0)", "alpha"),
        ("focal(alpha=[1.0, -0.5])", "alpha"),
        ("poly1(epsilon=-1.5)", "epsilon"),
    ],
)
def test_bad_arguments_raise_registry_errors(spec, argument):
    with pytest.raises(registry.RegistryError, match=argument) as err:
        registry.build("loss", spec)
    assert err.value.kind == "loss"
